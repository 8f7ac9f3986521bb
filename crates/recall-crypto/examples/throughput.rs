//! Rough single-thread throughput of the hot paths (not a test; numbers only).
//!
//! `cargo run --release -p recall-crypto --example throughput`

use std::hint::black_box;
use std::time::{Duration, Instant};

use recall_crypto::{
    BlindIndexer, CommitSecret, DataKey, IndexKey, SaltDeriver, SecretBytes, blind_index,
    commitment, event_salt, open_block, random_array, seal_block,
};

/// This thread's CPU time (user + system) from /proc, in seconds (10 ms resolution).
/// The machine is shared, so per-CPU-second rates are steadier than wall-clock ones.
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    f.get(11)
        .zip(f.get(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// Runs `f` repeatedly for about `budget`; returns calls per wall second and per CPU
/// second.
fn rate(budget: Duration, mut f: impl FnMut(u64)) -> (f64, f64) {
    let (start, cpu0) = (Instant::now(), thread_cpu());
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            f(n);
            n += 1;
        }
    }
    let cpu = (thread_cpu() - cpu0).max(0.01);
    (n as f64 / start.elapsed().as_secs_f64(), n as f64 / cpu)
}

fn main() -> Result<(), recall_crypto::CryptoError> {
    let budget = Duration::from_secs(2);
    let data = DataKey(SecretBytes::from_bytes(random_array()));
    let block: Vec<u8> = (0..256 * 1024).map(|i: u32| (i * 31 % 251) as u8).collect();
    let aad = b"tenant=acme epoch=202603 block=1";

    let seals = rate(budget, |_| {
        black_box(seal_block(&data, aad, black_box(&block)).ok());
    });
    let mb = |(wall, cpu): (f64, f64)| {
        let b = block.len() as f64 / 1e6;
        format!(
            "{:.0} MB/s wall, {:.0} MB per CPU-second",
            wall * b,
            cpu * b
        )
    };
    println!("seal_block 256 KiB: {}", mb(seals));
    let sealed = seal_block(&data, aad, &block)?;
    let opens = rate(budget, |_| {
        black_box(open_block(&data, aad, black_box(&sealed)).ok());
    });
    println!("open_block 256 KiB: {}", mb(opens));

    let per = |(wall, cpu): (f64, f64)| format!("{wall:.0}/s wall, {cpu:.0} per CPU-second");
    let secret = CommitSecret(SecretBytes::from_bytes(random_array()));
    let event = vec![b'x'; 500];
    let free = rate(budget, |seq| {
        let salt = event_salt(&secret, "acme-hospital", seq);
        black_box(commitment(&salt, black_box(&event)));
    });
    println!("event_salt + commitment, 500 B: {}", per(free));
    let deriver = SaltDeriver::new(&secret);
    let prepared = rate(budget, |seq| {
        let salt = deriver.salt("acme-hospital", seq);
        black_box(commitment(&salt, black_box(&event)));
    });
    println!("SaltDeriver::salt + commitment, 500 B: {}", per(prepared));

    let key = IndexKey(SecretBytes::from_bytes(random_array()));
    let free = rate(budget, |_| {
        black_box(blind_index(&key, "patient", black_box("MRN-0012345")));
    });
    let indexer = BlindIndexer::new(&key);
    let prepared = rate(budget, |_| {
        black_box(indexer.token("patient", black_box("MRN-0012345")));
    });
    println!("blind_index: {}", per(free));
    println!("BlindIndexer::token: {}", per(prepared));
    Ok(())
}
