//! Rough single-thread throughput of the hot paths (not a test; numbers only).
//!
//! `cargo run --release -p recall-crypto --example throughput`

use std::hint::black_box;
use std::time::{Duration, Instant};

use recall_crypto::{
    BlindIndexer, CommitSecret, DataKey, IndexKey, SaltDeriver, SecretBytes, blind_index,
    commitment, event_salt, open_block, random_array, seal_block,
};

/// Runs `f` repeatedly for about `budget`; returns calls per second.
fn rate(budget: Duration, mut f: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            f(n);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), recall_crypto::CryptoError> {
    let budget = Duration::from_secs(2);
    let data = DataKey(SecretBytes::from_bytes(random_array()));
    let block: Vec<u8> = (0..256 * 1024).map(|i: u32| (i * 31 % 251) as u8).collect();
    let aad = b"tenant=acme epoch=202603 block=1";

    let seals = rate(budget, |_| {
        black_box(seal_block(&data, aad, black_box(&block)).ok());
    });
    println!(
        "seal_block 256 KiB: {:.0} MB/s",
        seals * block.len() as f64 / 1e6
    );
    let sealed = seal_block(&data, aad, &block)?;
    let opens = rate(budget, |_| {
        black_box(open_block(&data, aad, black_box(&sealed)).ok());
    });
    println!(
        "open_block 256 KiB: {:.0} MB/s",
        opens * block.len() as f64 / 1e6
    );

    let secret = CommitSecret(SecretBytes::from_bytes(random_array()));
    let event = vec![b'x'; 500];
    let free = rate(budget, |seq| {
        let salt = event_salt(&secret, "acme-hospital", seq);
        black_box(commitment(&salt, black_box(&event)));
    });
    println!("event_salt + commitment, 500 B: {free:.0}/s");
    let deriver = SaltDeriver::new(&secret);
    let prepared = rate(budget, |seq| {
        let salt = deriver.salt("acme-hospital", seq);
        black_box(commitment(&salt, black_box(&event)));
    });
    println!("SaltDeriver::salt + commitment, 500 B: {prepared:.0}/s");

    let key = IndexKey(SecretBytes::from_bytes(random_array()));
    let free = rate(budget, |_| {
        black_box(blind_index(&key, "patient", black_box("MRN-0012345")));
    });
    let indexer = BlindIndexer::new(&key);
    let prepared = rate(budget, |_| {
        black_box(indexer.token("patient", black_box("MRN-0012345")));
    });
    println!("blind_index: {free:.0}/s; BlindIndexer::token: {prepared:.0}/s");
    Ok(())
}
