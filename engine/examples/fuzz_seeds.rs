//! Writes the seed corpus of every fuzz target to `fuzz/corpus/<target>/seed-NN`
//! (replacing earlier seeds; other files are left alone):
//!
//! ```sh
//! cargo run -p annal --example fuzz_seeds
//! ```

use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, _) in annal::fuzzing::TARGETS {
        let dir = corpus.join(name);
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
            {
                fs::remove_file(path)?;
            }
        }
        let seeds = annal::fuzzing::seed_corpus(name);
        for (k, seed) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("seed-{k:02}")), seed)?;
        }
        eprintln!("{name}: {} seeds in {}", seeds.len(), dir.display());
    }
    Ok(())
}
