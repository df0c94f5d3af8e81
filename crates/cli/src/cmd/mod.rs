pub mod demo;
pub mod import;
pub mod init;
pub mod person;
pub mod schedule;
pub mod serve;
