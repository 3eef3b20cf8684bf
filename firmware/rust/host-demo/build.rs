// A GNU build-id note in the executable, as the C host port has (-Wl,--build-id=sha1): the
// device reports it in IDENTIFY and firmwatch checks it against the ELF it was given.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--build-id=sha1");
    println!("cargo:rerun-if-changed=build.rs");
}
