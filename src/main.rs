fn main() {
    std::process::exit(lmtally::cli::main());
}
