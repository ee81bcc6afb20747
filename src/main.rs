//! `uitpas-checkout`: the checkout service. Its HTTP API is being built (see README.md); for now
//! the binary only tells so, and `uitpas-sandbox` is the part that runs.

fn main() {
    eprintln!(
        "uitpas-checkout: the checkout API is not built yet; run `cargo run --bin uitpas-sandbox` for the sandbox"
    );
    std::process::exit(2);
}
