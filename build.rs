//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not know the macro read
//! it: without this, adding or changing only a migration file would not rebuild the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
