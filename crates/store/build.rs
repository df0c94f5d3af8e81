// sqlx::migrate! embeds the migration files at compile time; without this a new migration
// would not reach a build that has nothing else to recompile.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
