pub mod audit;
pub mod demo;
pub mod dose;
pub mod import;
pub mod init;
pub mod person;
pub mod schedule;
pub mod serve;
