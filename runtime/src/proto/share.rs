//! Additive secret sharing over Z_{2^ℓ} and what needs no protocol: a party's input becoming
//! shares, local linear operations, multiplication by a public constant, and revealing a
//! shared value to one party. The sharing is the one CrypTFlow2 (Rathee et al., CCS 2020, §2)
//! and SiRnn (Rathee et al., S&P 2021, §III) use: x = x_s + x_c mod 2^ℓ, the server holding
//! x_s and the client x_c. The local operations' cleartext meaning is ring arithmetic
//! (`crate::ring`), which the tests check on the reconstructed values.

use super::{Cost, Party, ProtoError};
use crate::net::Role;
use crate::ot::bits::{BitReader, BitWriter, packed_len};
use crate::ring;
use rand_core::RngCore;

fn check_bits(bits: u32) -> Result<(), ProtoError> {
    if (1..=64).contains(&bits) {
        Ok(())
    } else {
        Err(ProtoError::Argument(format!(
            "ring width {bits} is not in 1..=64"
        )))
    }
}

fn send_packed(p: &mut Party, v: impl Iterator<Item = u64>, bits: u32) -> Result<(), ProtoError> {
    let mut buf = Vec::new();
    let mut w = BitWriter::new(&mut buf);
    for x in v {
        w.push(x & ring::mask(bits), bits);
    }
    w.finish();
    p.io.send(&buf)?;
    p.io.end_flight()?;
    Ok(())
}

fn recv_packed(p: &mut Party, n: usize, bits: u32) -> Result<Vec<u64>, ProtoError> {
    let mut buf = vec![0u8; packed_len(n, bits)];
    p.io.recv(&mut buf)?;
    let mut r = BitReader::new(&buf);
    Ok((0..n).map(|_| r.next(bits)).collect())
}

/// The cost of [`input`]: the owner sends the peer's share, ℓ bits per element, one message.
pub fn input_cost(n: usize, bits: u32, owner: Role) -> Cost {
    if n == 0 {
        return Cost::ZERO;
    }
    Cost::message(owner, packed_len(n, bits) as u64)
}

/// Secret-shares `owner`'s values: the owner passes `Some(x)` and keeps x − r, the peer passes
/// `None` and receives r, drawn from the owner's CSPRNG. Both return their shares of x.
pub fn input(
    p: &mut Party,
    owner: Role,
    x: Option<&[u64]>,
    n: usize,
    bits: u32,
) -> Result<Vec<u64>, ProtoError> {
    check_bits(bits)?;
    if p.role == owner {
        let x = x.ok_or_else(|| {
            ProtoError::Argument("the owner of an input must pass its values".into())
        })?;
        if x.len() != n {
            return Err(ProtoError::Argument(format!(
                "{} values for an input of {n}",
                x.len()
            )));
        }
        let m = ring::mask(bits);
        let r: Vec<u64> = (0..n).map(|_| p.rng().next_u64() & m).collect();
        if n > 0 {
            send_packed(p, r.iter().copied(), bits)?;
        }
        Ok(x.iter()
            .zip(&r)
            .map(|(&v, &r)| ring::sub(v, r, bits))
            .collect())
    } else if n == 0 {
        Ok(Vec::new())
    } else {
        recv_packed(p, n, bits)
    }
}

/// The cost of [`reveal`] to `to`: the other party sends its shares, ℓ bits each, one message.
pub fn reveal_cost(n: usize, bits: u32, to: Role) -> Cost {
    if n == 0 {
        return Cost::ZERO;
    }
    Cost::message(to.peer(), packed_len(n, bits) as u64)
}

/// Reveals shared values to `to` only: `to` gets `Some(x)`, the other party `None` and learns
/// nothing. The model's outputs go to the client this way.
pub fn reveal(
    p: &mut Party,
    to: Role,
    x: &[u64],
    bits: u32,
) -> Result<Option<Vec<u64>>, ProtoError> {
    check_bits(bits)?;
    if x.is_empty() {
        return Ok((p.role == to).then(Vec::new));
    }
    if p.role == to {
        let theirs = recv_packed(p, x.len(), bits)?;
        Ok(Some(
            x.iter()
                .zip(&theirs)
                .map(|(&a, &b)| ring::add(a, b, bits))
                .collect(),
        ))
    } else {
        send_packed(p, x.iter().copied(), bits)?;
        Ok(None)
    }
}

/// [x + y]: each party adds its shares.
pub fn add(x: &[u64], y: &[u64], bits: u32) -> Vec<u64> {
    x.iter()
        .zip(y)
        .map(|(&a, &b)| ring::add(a, b, bits))
        .collect()
}

/// [x − y]: each party subtracts its shares.
pub fn sub(x: &[u64], y: &[u64], bits: u32) -> Vec<u64> {
    x.iter()
        .zip(y)
        .map(|(&a, &b)| ring::sub(a, b, bits))
        .collect()
}

/// [c·x] for a public c (an ℓ-bit ring element; two's complement for negative constants).
pub fn mul_public(x: &[u64], c: u64, bits: u32) -> Vec<u64> {
    x.iter().map(|&a| ring::mul(a, c, bits)).collect()
}

/// [x + c] for a public c: only the server adds it, so the shares still sum to x + c. Both
/// parties' results are reduced into Z_{2^ℓ}.
pub fn add_public(role: Role, x: &[u64], c: u64, bits: u32) -> Vec<u64> {
    let c = if role == Role::Server { c } else { 0 };
    x.iter().map(|&a| ring::add(a, c, bits)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::OtKind;
    use crate::testkit::pair::run_mem;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// Input sharing, local linear operations and reveal compose to ring arithmetic on the
    /// values, bit for bit, and the measured bytes and messages equal the cost functions.
    #[test]
    fn input_linear_ops_and_reveal_match_ring_arithmetic_and_cost() {
        for bits in [1u32, 2, 7, 8, 16, 31, 32, 37, 63, 64] {
            for n in [0usize, 1, 3, 1000] {
                let mut rng = ChaCha20Rng::seed_from_u64(u64::from(bits) * 7919 + n as u64);
                let m = ring::mask(bits);
                let mut x: Vec<u64> = (0..n).map(|_| rng.next_u64() & m).collect();
                let y: Vec<u64> = (0..n).map(|_| rng.next_u64() & m).collect();
                let edges = [0, m, m >> 1, ((m >> 1) + 1) & m, 1 & m];
                for (v, e) in x.iter_mut().zip(edges) {
                    *v = e;
                }
                let (c1, c2) = (rng.next_u64() & m, rng.next_u64() & m);
                let run = run_mem(|p| {
                    let xs = input(p, Role::Server, p.is_server().then_some(&x[..]), n, bits)?;
                    let ys = input(p, Role::Client, (!p.is_server()).then_some(&y[..]), n, bits)?;
                    let z = add_public(
                        p.role,
                        &mul_public(&sub(&add(&xs, &ys, bits), &ys, bits), c1, bits),
                        c2,
                        bits,
                    );
                    let z = add(&z, &ys, bits);
                    reveal(p, Role::Client, &z, bits)
                })
                .expect("runs");
                let want: Vec<u64> = x
                    .iter()
                    .zip(&y)
                    .map(|(&a, &b)| ring::add(ring::add(ring::mul(a, c1, bits), c2, bits), b, bits))
                    .collect();
                assert_eq!(run.server, None, "the server learns nothing");
                assert_eq!(run.client, Some(want), "bits {bits} n {n}");
                let cost = input_cost(n, bits, Role::Server)
                    .then(input_cost(n, bits, Role::Client))
                    .then(reveal_cost(n, bits, Role::Client));
                assert_eq!(run.measured(), cost.on(OtKind::Iknp), "bits {bits} n {n}");
            }
        }
    }

    #[test]
    fn shares_alone_look_random() {
        // The peer's share of an input is a fresh uniform value: sharing the same input twice
        // gives different shares.
        let x = vec![5u64; 64];
        let run = run_mem(|p| {
            let a = input(p, Role::Server, p.is_server().then_some(&x[..]), 64, 32)?;
            let b = input(p, Role::Server, p.is_server().then_some(&x[..]), 64, 32)?;
            Ok((a, b))
        })
        .expect("runs");
        assert_ne!(run.client.0, run.client.1);
        assert!(run.client.0.iter().all(|&v| v <= u32::MAX as u64));
    }
}
