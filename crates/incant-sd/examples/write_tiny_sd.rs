//! Writes the tiny deterministic Stable Diffusion folders the parity test uses, so that
//! `scripts/reference/make_sd_reference.py` can run diffusers and transformers on the very
//! same weights: `cargo run -p incant-sd --example write_tiny_sd -- OUT_DIR` writes
//! `OUT_DIR/sd1` (quick_gelu, conv projections, epsilon) and `OUT_DIR/sd2` (gelu, linear
//! projections, v-prediction), both with f32 weights.

use std::path::PathBuf;

use incant_sd::tiny::{write_model, Tiny};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: write_tiny_sd OUT_DIR")?
        .into();
    for (name, sd2) in [("sd1", false), ("sd2", true)] {
        let dir = out.join(name);
        write_model(
            &dir,
            Tiny {
                sd2,
                ..Tiny::default()
            },
        )?;
        println!("{}", dir.display());
    }
    Ok(())
}
