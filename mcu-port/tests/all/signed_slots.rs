//! The A/B slots with the REAL verifier ([`SignatureVerifier`]: Ed25519 signature, component
//! layer, manifest, interface, anti-rollback floor) on signed images: tampered, untrusted
//! and downgraded updates are refused by the check that should refuse them, and a power cut
//! after any single flash operation still boots a plugin that verifies.
//!
//! Images are small signed components: a component preamble, a custom section of
//! deterministic payload bytes, and the manifest declaring the sequence (the slots never
//! parse the component beyond the verifier).
use crate::common::Rng;
use crate::verify::{key, trust};
use edgeplug_mcu::SignatureVerifier;
use edgeplug_mcu::signing::{
    self, ElementType, INTERFACE_VERSION, Manifest, ModelCard, Resources, SecretKey, SelfTest,
    Sha256Digest, TensorSpec,
};
use edgeplug_mcu::slots::sim::{ERASE_SIZE, SimFlash};
use edgeplug_mcu::slots::{Boot, Layout, SlotError, SlotId, Slots, Verifier};

const LAYOUT: Layout = Layout {
    slot_a: 0,
    slot_b: 8 * ERASE_SIZE as u32,
    slot_size: 8 * ERASE_SIZE as u32,
    state: 16 * ERASE_SIZE as u32,
};

/// Sectors of the simulated flash: two 8-sector slots and the 3-sector state area.
const SECTORS: usize = 19;

/// The booted image's bytes.
fn img(slots: &mut Slots<SimFlash>, boot: &Boot) -> Vec<u8> {
    slots.image(boot).unwrap().into_owned()
}

fn manifest(sequence: u64) -> Manifest {
    let spec = |name: &str| TensorSpec {
        name: name.into(),
        dtype: ElementType::Int8,
        shape: vec![1, 4],
        quantization: None,
    };
    Manifest {
        name: "slot-test".into(),
        version: format!("1.0.{sequence}"),
        sequence,
        interface: INTERFACE_VERSION.into(),
        card: ModelCard::default(),
        inputs: vec![spec("in")],
        outputs: vec![spec("out")],
        labels: vec![],
        resources: Resources::default(),
        targets: vec![],
        self_test: SelfTest {
            inputs: vec![signing::Bytes(vec![0; 4])],
            output_sha256: Sha256Digest([0; 32]),
        },
    }
}

/// A signed component image of about `len` bytes declaring `sequence`.
fn image_by(sequence: u64, len: usize, seed: u32, by: &SecretKey) -> Vec<u8> {
    let mut c = b"\0asm\x0d\0\x01\0".to_vec();
    let name = b"payload";
    let payload = Rng(seed | 1).bytes(len);
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(&payload);
    c.push(0);
    let mut n = body.len() as u32;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        c.push(if n != 0 { b | 0x80 } else { b });
        if n == 0 {
            break;
        }
    }
    c.extend_from_slice(&body);
    let c = signing::embed_manifest(&c, &manifest(sequence)).unwrap();
    signing::sign(&c, by).unwrap()
}

fn image(sequence: u64, len: usize, seed: u32) -> Vec<u8> {
    image_by(sequence, len, seed, &key(1))
}

fn verifier() -> SignatureVerifier {
    SignatureVerifier::new(trust(&[&key(1)]), None)
}

fn provisioned(first: &[u8], v: &SignatureVerifier) -> SimFlash {
    let mut slots = Slots::new(SimFlash::new(SECTORS), LAYOUT).unwrap();
    slots.provision(first, v).unwrap();
    slots.into_flash()
}

fn boot_and_confirm(flash: SimFlash, v: &SignatureVerifier) -> (Slots<SimFlash>, Boot) {
    let mut slots = Slots::new(flash, LAYOUT).unwrap();
    let boot = slots.boot(v).unwrap();
    if let Boot::Trial { .. } = boot {
        slots.confirm().unwrap();
    }
    (slots, boot)
}

fn send(
    slots: &mut Slots<SimFlash>,
    img: &[u8],
    sequence: u64,
    chunks: &[usize],
    v: &SignatureVerifier,
) -> Result<SlotId, SlotError> {
    let mut update = slots.begin_update(img.len(), sequence)?;
    let slot = update.slot();
    let mut at = 0;
    for &n in chunks.iter().cycle() {
        if at >= img.len() {
            break;
        }
        let end = (at + n.max(1)).min(img.len());
        update.write(&img[at..end])?;
        at = end;
    }
    update.finish(v, |i| v.verify(i).is_ok())?;
    Ok(slot)
}

#[test]
fn a_signed_update_is_tried_confirmed_and_raises_the_floor() {
    let mut v = verifier();
    let v1 = image(1, 9_000, 1);
    let v2 = image(2, 11_000, 2);
    let (mut slots, boot) = boot_and_confirm(provisioned(&v1, &v), &v);
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 1));
    assert_eq!(send(&mut slots, &v2, 2, &[777], &v).unwrap(), SlotId::B);
    let (mut slots, boot) = boot_and_confirm(slots.into_flash(), &v);
    assert!(matches!(boot, Boot::Trial { sequence: 2, .. }));
    assert_eq!(img(&mut slots, &boot), v2);
    // Confirming raised the persistent anti-rollback counter.
    assert_eq!(slots.floor(), Ok(Some(2)));
    // After promotion the device persists the floor: the old slot no longer verifies.
    v.raise_floor(2);
    v.raise_floor(1);
    assert_eq!(v.min_sequence(), Some(2));
    assert_eq!(
        v.verify(&v1),
        Err("anti-rollback check failed: downgrade refused")
    );
    assert_eq!(v.verify(&v2).map(|x| x.sequence), Ok(2));
}

#[test]
fn tampered_and_untrusted_updates_are_refused_by_the_signature_check() {
    let v = verifier();
    let v1 = image(1, 6_000, 1);
    let (mut slots, _) = boot_and_confirm(provisioned(&v1, &v), &v);
    let good = image(2, 6_000, 2);
    // One flipped payload bit: the content no longer matches the signed digest.
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x04;
    assert_eq!(
        send(&mut slots, &bad, 2, &[999], &v),
        Err(SlotError::Verify(
            "digest check failed: the content changed after signing"
        ))
    );
    // Correctly signed, but by a key the device does not trust.
    let foreign = image_by(2, 6_000, 2, &key(9));
    assert_eq!(
        send(&mut slots, &foreign, 2, &[999], &v),
        Err(SlotError::Verify(
            "trust check failed: no valid signature by a trusted key"
        ))
    );
    // Truncated (declared with its truncated length).
    assert!(matches!(
        send(&mut slots, &good[..good.len() - 10], 2, &[999], &v),
        Err(SlotError::Verify(_))
    ));
    let (mut slots, boot) = boot_and_confirm(slots.into_flash(), &v);
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 1));
    assert_eq!(img(&mut slots, &boot), v1);

    // Valid in transit, corrupted in flash after PENDING: never tried.
    send(&mut slots, &good, 2, &[999], &v).unwrap();
    let mut flash = slots.into_flash();
    flash.data_mut()[LAYOUT.slot_b as usize + ERASE_SIZE + 3_000] ^= 0x80;
    let (_, boot) = boot_and_confirm(flash, &v);
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 1));
}

#[test]
fn signed_downgrades_are_refused() {
    let v = verifier();
    let v5 = image(5, 4_000, 5);
    let (mut slots, _) = boot_and_confirm(provisioned(&v5, &v), &v);
    // A correctly signed older plugin, declared as such.
    let v3 = image(3, 4_000, 3);
    assert_eq!(
        send(&mut slots, &v3, 3, &[512], &v),
        Err(SlotError::Downgrade {
            sequence: 3,
            current: 5
        })
    );
    // ... declared with a higher sequence than it carries: the signed manifest wins.
    assert_eq!(
        send(&mut slots, &v3, 9, &[512], &v),
        Err(SlotError::SequenceMismatch {
            declared: 9,
            verified: 3
        })
    );
    // ... on a device whose verifier has a floor: refused by the anti-rollback check.
    let floored = SignatureVerifier::new(trust(&[&key(1)]), Some(5));
    let mut update = slots.begin_update(v3.len(), 6).unwrap();
    update.write(&v3).unwrap();
    assert_eq!(
        update.finish(&floored, |_| true),
        Err(SlotError::Verify(
            "anti-rollback check failed: downgrade refused"
        ))
    );
    let (_, boot) = boot_and_confirm(slots.into_flash(), &v);
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 5));
}

fn update_flow(flash: SimFlash, new: &[u8], chunks: &[usize], v: &SignatureVerifier) -> SimFlash {
    let mut slots = Slots::new(flash, LAYOUT).unwrap();
    let run = |slots: &mut Slots<SimFlash>| -> Result<(), SlotError> {
        slots.boot(v)?;
        send(slots, new, 2, chunks, v)?;
        Ok(())
    };
    if run(&mut slots).is_err() {
        return slots.into_flash();
    }
    let mut slots = Slots::new(slots.into_flash(), LAYOUT).unwrap();
    if slots.boot(v).is_err() || slots.confirm().is_err() {
        return slots.into_flash();
    }
    let mut slots = Slots::new(slots.into_flash(), LAYOUT).unwrap();
    let _ = slots.boot(v);
    slots.into_flash()
}

#[test]
fn a_power_cut_after_any_single_operation_boots_a_plugin_that_verifies() {
    let v = verifier();
    let old = image(1, 14_000, 1);
    let new = image(2, 12_000, 2);
    let next = image(7, 2_000, 7);
    let chunks = [1_500, 3, 4_096, 77];
    let base = provisioned(&old, &v);
    let mut counting = base.clone();
    counting.cut_power_after(u64::MAX, false);
    let total = update_flow(counting, &new, &chunks, &v).ops();
    assert!(total >= 10, "only {total} flash operations in an update");

    let mut outcomes = [0u32; 2];
    for torn in [false, true] {
        for n in 0..=total {
            let what = format!("cut at op {n} of {total}, torn {torn}");
            let mut flash = base.clone();
            flash.cut_power_after(n, torn);
            let mut flash = update_flow(flash, &new, &chunks, &v);
            flash.restore_power();
            let (mut slots, boot) = boot_and_confirm(flash, &v);
            // What booted verifies with the real verifier, and is old or new byte for byte.
            let image = img(&mut slots, &boot);
            assert_eq!(
                v.verify(&image).map(|x| x.sequence),
                Ok(boot.sequence()),
                "{what}"
            );
            match boot.sequence() {
                1 => assert_eq!(image, old, "{what}"),
                2 => assert_eq!(image, new, "{what}"),
                s => panic!("{what}: booted sequence {s}"),
            }
            outcomes[(boot.sequence() - 1) as usize] += 1;
            // Not wedged: a further signed update still goes through.
            send(&mut slots, &next, 7, &[1024], &v)
                .unwrap_or_else(|e| panic!("{what}: next update: {e}"));
            let (_, boot) = boot_and_confirm(slots.into_flash(), &v);
            assert_eq!(boot.sequence(), 7, "{what}");
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
