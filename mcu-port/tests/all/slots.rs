//! A/B slots on the simulated NOR flash: update, trial, confirm, revert; refusal of
//! tampered, truncated and downgraded updates; the persistent anti-rollback counter
//! (downgrades refused after reboots, power cuts while it is written); power cut after
//! every single flash operation and at random points of chunked transfers, with images
//! read into RAM and in place (memory-mapped).
//!
//! The verifier here is a cheap STAND-IN that exercises the state machine fast: an image is
//! `b"TIMG"`, the sequence (u64 LE), a payload and an FNV-1a-64 digest of everything before
//! it. It detects tampering and truncation like a digest does, but it is not a signature;
//! `signed_slots.rs` runs the same scenarios with the real `SignatureVerifier`.
use crate::common::Rng;
use edgeplug_mcu::slots::sim::{ERASE_SIZE, SimFlash};
use edgeplug_mcu::slots::{Boot, Layout, SlotError, SlotId, Slots, Verified};
use std::borrow::Cow;

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

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A stand-in image with `sequence` and `len` payload bytes from `seed`.
fn image(sequence: u64, len: usize, seed: u32) -> Vec<u8> {
    let mut v = b"TIMG".to_vec();
    v.extend_from_slice(&sequence.to_le_bytes());
    v.extend(Rng(seed).bytes(len));
    let digest = fnv64(&v);
    v.extend_from_slice(&digest.to_le_bytes());
    v
}

/// The stand-in verifier (digest check, not a signature).
fn verify(image: &[u8]) -> Result<Verified, &'static str> {
    if image.len() < 20 || &image[..4] != b"TIMG" {
        return Err("not a test image");
    }
    let (body, digest) = image.split_at(image.len() - 8);
    if fnv64(body).to_le_bytes() != digest {
        return Err("digest mismatch");
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&body[4..12]);
    Ok(Verified {
        sequence: u64::from_le_bytes(seq),
    })
}

fn provisioned(first: &[u8]) -> SimFlash {
    let mut slots = Slots::new(SimFlash::new(SECTORS), LAYOUT).unwrap();
    slots.provision(first, &verify).unwrap();
    slots.into_flash()
}

/// The slots on `flash`, memory-mapped (images verified and returned in place) or not.
fn open(flash: SimFlash, mapped: bool) -> Slots<SimFlash> {
    let slots = Slots::new(flash, LAYOUT).unwrap();
    if mapped {
        slots.with_mapping(SimFlash::contents)
    } else {
        slots
    }
}

/// Boots, and if a trial comes up, passes its health check and confirms it.
fn boot_and_confirm(flash: SimFlash) -> (Slots<SimFlash>, Boot) {
    boot_and_confirm_in(flash, false)
}

/// [`boot_and_confirm`], mapped or not.
fn boot_and_confirm_in(flash: SimFlash, mapped: bool) -> (Slots<SimFlash>, Boot) {
    let mut slots = open(flash, mapped);
    let boot = slots.boot(&verify).unwrap();
    if let Boot::Trial { .. } = boot {
        slots.confirm().unwrap();
    }
    (slots, boot)
}

/// Sends `img` (declared as `sequence`) in chunks of the given sizes (cycled).
fn send(
    slots: &mut Slots<SimFlash>,
    img: &[u8],
    sequence: u64,
    chunks: &[usize],
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
    update.finish(&verify, |i| verify(i).is_ok())?;
    Ok(slot)
}

#[test]
fn update_is_tried_then_confirmed_and_the_next_goes_to_the_other_slot() {
    let v1 = image(1, 20_000, 1);
    let v2 = image(2, 21_000, 2);
    let v3 = image(3, 9_000, 3);
    let mut slots = Slots::new(provisioned(&v1), LAYOUT).unwrap();
    let boot = slots.boot(&verify).unwrap();
    assert!(matches!(
        boot,
        Boot::Confirmed {
            slot: SlotId::A,
            sequence: 1,
            ..
        }
    ));
    assert_eq!(img(&mut slots, &boot), v1);
    assert_eq!(
        send(&mut slots, &v2, 2, &[1000, 7, 333]).unwrap(),
        SlotId::B
    );

    let mut slots = Slots::new(slots.into_flash(), LAYOUT).unwrap();
    let boot = slots.boot(&verify).unwrap();
    assert!(matches!(
        boot,
        Boot::Trial {
            slot: SlotId::B,
            sequence: 2,
            ..
        }
    ));
    assert_eq!(img(&mut slots, &boot), v2);
    assert_eq!(
        slots.begin_update(v3.len(), 3).err(),
        Some(SlotError::TrialInProgress)
    );
    slots.confirm().unwrap();

    let mut slots = Slots::new(slots.into_flash(), LAYOUT).unwrap();
    let boot = slots.boot(&verify).unwrap();
    assert!(matches!(
        boot,
        Boot::Confirmed {
            slot: SlotId::B,
            sequence: 2,
            ..
        }
    ));
    assert_eq!(send(&mut slots, &v3, 3, &[4096]).unwrap(), SlotId::A);
    let (mut slots, boot) = boot_and_confirm(slots.into_flash());
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 3));
    assert_eq!(img(&mut slots, &boot), v3);
}

#[test]
fn an_unconfirmed_or_rejected_trial_reverts_to_the_previous_slot() {
    let v1 = image(1, 5_000, 1);
    let v2 = image(2, 5_000, 2);
    for reject in [false, true] {
        let (mut slots, _) = boot_and_confirm(provisioned(&v1));
        send(&mut slots, &v2, 2, &[512]).unwrap();
        let mut slots = Slots::new(slots.into_flash(), LAYOUT).unwrap();
        assert!(matches!(slots.boot(&verify).unwrap(), Boot::Trial { .. }));
        if reject {
            slots.reject().unwrap();
        } // else: reset without confirming (crash, failed health check, power cut)
        for _ in 0..2 {
            let mut again = Slots::new(slots.into_flash(), LAYOUT).unwrap();
            let boot = again.boot(&verify).unwrap();
            assert!(matches!(
                boot,
                Boot::Confirmed {
                    slot: SlotId::A,
                    sequence: 1,
                    ..
                }
            ));
            assert_eq!(img(&mut again, &boot), v1);
            slots = again;
        }
    }
}

#[test]
fn tampered_updates_are_refused_in_transit_and_in_flash() {
    let v1 = image(1, 5_000, 1);
    let mut v2 = image(2, 5_000, 2);
    v2[100] ^= 0x04;
    let (mut slots, _) = boot_and_confirm(provisioned(&v1));
    assert_eq!(
        send(&mut slots, &v2, 2, &[999]),
        Err(SlotError::Verify("digest mismatch"))
    );
    let (mut slots, boot) = boot_and_confirm(slots.into_flash());
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 1));

    // Valid in transit, corrupted in flash after it became pending.
    let v2 = image(2, 5_000, 2);
    send(&mut slots, &v2, 2, &[999]).unwrap();
    let mut flash = slots.into_flash();
    flash.data_mut()[LAYOUT.slot_b as usize + ERASE_SIZE + 50] ^= 0x80;
    let (mut slots, boot) = boot_and_confirm(flash);
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 1));
    assert_eq!(img(&mut slots, &boot), v1);
}

#[test]
fn truncated_updates_are_refused() {
    let v1 = image(1, 5_000, 1);
    let v2 = image(2, 5_000, 2);
    let (mut slots, _) = boot_and_confirm(provisioned(&v1));
    // Fewer bytes than declared.
    let mut update = slots.begin_update(v2.len(), 2).unwrap();
    update.write(&v2[..4_000]).unwrap();
    assert_eq!(
        update.finish(&verify, |_| true),
        Err(SlotError::Length {
            expected: v2.len() as u32,
            received: 4_000
        })
    );
    // More bytes than declared.
    let mut update = slots.begin_update(100, 2).unwrap();
    assert!(matches!(
        update.write(&v2[..101]),
        Err(SlotError::Length { .. })
    ));
    // A truncated image declared with its truncated length.
    let cut = &v2[..v2.len() - 10];
    assert_eq!(
        send(&mut slots, cut, 2, &[64]),
        Err(SlotError::Verify("digest mismatch"))
    );
    let (_, boot) = boot_and_confirm(slots.into_flash());
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 1));
}

#[test]
fn downgrades_and_sequence_mismatches_are_refused() {
    let v1 = image(5, 5_000, 1);
    let (mut slots, _) = boot_and_confirm(provisioned(&v1));
    for seq in [1, 5] {
        assert_eq!(
            slots.begin_update(100, seq).err(),
            Some(SlotError::Downgrade {
                sequence: seq,
                current: 5
            })
        );
    }
    // Declared as 9, but the (verified) image carries 3.
    let old = image(3, 5_000, 3);
    assert_eq!(
        send(&mut slots, &old, 9, &[700]),
        Err(SlotError::SequenceMismatch {
            declared: 9,
            verified: 3
        })
    );
    // A self-test failure never becomes pending either.
    let v6 = image(6, 5_000, 6);
    let mut update = slots.begin_update(v6.len(), 6).unwrap();
    update.write(&v6).unwrap();
    assert_eq!(update.finish(&verify, |_| false), Err(SlotError::SelfTest));
    let (_, boot) = boot_and_confirm(slots.into_flash());
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::A, 5));
}

/// The full life of one update, stopping at the first error (a power cut): boot, receive
/// in chunks, reboot into the trial, confirm (which raises the anti-rollback counter),
/// reboot.
fn update_flow(flash: SimFlash, new: &[u8], chunks: &[usize], mapped: bool) -> SimFlash {
    let mut slots = open(flash, mapped);
    let run = |slots: &mut Slots<SimFlash>| -> Result<(), SlotError> {
        slots.boot(&verify)?;
        send(slots, new, 2, chunks)?;
        Ok(())
    };
    if run(&mut slots).is_err() {
        return slots.into_flash();
    }
    let mut slots = open(slots.into_flash(), mapped);
    if slots.boot(&verify).is_err() || slots.confirm().is_err() {
        return slots.into_flash();
    }
    let mut slots = open(slots.into_flash(), mapped);
    let _ = slots.boot(&verify);
    slots.into_flash()
}

/// After power returns: the device must boot a verified plugin, old or new, byte for byte,
/// with the anti-rollback counter at its sequence (never below, never above), refuse a
/// downgrade, and still take a further update. Returns the sequence it booted.
fn check_recovery(mut flash: SimFlash, old: &[u8], new: &[u8], what: &str, mapped: bool) -> u64 {
    flash.restore_power();
    let (mut slots, boot) = boot_and_confirm_in(flash, mapped);
    let seq = boot.sequence();
    let booted = slots.image(&boot).unwrap();
    assert_eq!(matches!(booted, Cow::Borrowed(_)), mapped, "{what}");
    match seq {
        1 => assert_eq!(&booted[..], old, "{what}: old image differs"),
        2 => assert_eq!(&booted[..], new, "{what}: new image differs"),
        s => panic!("{what}: booted sequence {s}"),
    }
    drop(booted);
    assert_eq!(
        slots.floor(),
        Ok(Some(seq)),
        "{what}: anti-rollback counter"
    );
    assert!(
        matches!(
            slots.begin_update(100, seq),
            Err(SlotError::Downgrade { .. })
        ),
        "{what}"
    );
    // Not wedged: a later update still goes through.
    let next = image(7, 3_000, 7);
    send(&mut slots, &next, 7, &[1024]).unwrap_or_else(|e| panic!("{what}: next update: {e}"));
    let (mut slots, boot) = boot_and_confirm_in(slots.into_flash(), mapped);
    assert_eq!(boot.sequence(), 7, "{what}: next update did not boot");
    assert_eq!(img(&mut slots, &boot), next, "{what}");
    assert_eq!(slots.floor(), Ok(Some(7)), "{what}");
    seq
}

#[test]
fn a_power_cut_after_any_single_operation_leaves_a_verified_plugin() {
    let old = image(1, 20_000, 1);
    let new = image(2, 18_000, 2);
    let chunks = [1_500, 3, 4_096, 77];
    let base = provisioned(&old);

    for mapped in [false, true] {
        // Count the operations of an uninterrupted update.
        let mut counting = base.clone();
        counting.cut_power_after(u64::MAX, false);
        let done = update_flow(counting, &new, &chunks, mapped);
        let total = done.ops();
        assert!(total >= 10, "only {total} flash operations in an update");
        let (_, boot) = boot_and_confirm(done);
        assert_eq!(boot.sequence(), 2);

        let mut outcomes = [0u32; 2];
        for torn in [false, true] {
            for n in 0..=total {
                let mut flash = base.clone();
                flash.cut_power_after(n, torn);
                let flash = update_flow(flash, &new, &chunks, mapped);
                let what = format!("cut at op {n}, torn {torn}, mapped {mapped}");
                let seq = check_recovery(flash, &old, &new, &what, mapped);
                outcomes[(seq - 1) as usize] += 1;
            }
        }
        // Early cuts keep the old plugin, late ones (after PENDING) bring the new one.
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    }
}

#[test]
fn power_cuts_at_random_points_of_chunked_transfers_leave_a_verified_plugin() {
    let mut rng = Rng(0x5EED_1234);
    let old = image(1, 12_000, 11);
    let base = provisioned(&old);
    for round in 0..60 {
        let new = image(2, 1 + (rng.next() % 24_000) as usize, rng.next());
        let chunks: Vec<usize> = (0..5).map(|_| 1 + (rng.next() % 5_000) as usize).collect();
        let mut counting = base.clone();
        counting.cut_power_after(u64::MAX, false);
        let total = update_flow(counting, &new, &chunks, false).ops();
        let n = u64::from(rng.next()) % (total + 1);
        let torn = rng.next().is_multiple_of(2);
        let mut flash = base.clone();
        flash.cut_power_after(n, torn);
        let flash = update_flow(flash, &new, &chunks, false);
        check_recovery(
            flash,
            &old,
            &new,
            &format!("round {round}: cut at op {n} of {total}, torn {torn}, chunks {chunks:?}"),
            false,
        );
    }
}

#[test]
fn a_bad_layout_is_refused() {
    let e = ERASE_SIZE as u32;
    let layout = |slot_a, slot_b, slot_size, state| Layout {
        slot_a,
        slot_b,
        slot_size,
        state,
    };
    let bad = [
        // Overlapping slots.
        layout(0, 4096, 8192, 16 * e),
        // Misaligned slot.
        layout(0, 100, 8192, 16 * e),
        // A slot without an image sector.
        layout(0, 4096, 4096, 16 * e),
        // Misaligned slot B.
        layout(0, 60_000, 8192, 16 * e),
        // The state area overlaps slot B, is misaligned, or runs past the end.
        layout(0, 8 * e, 8 * e, 14 * e),
        layout(0, 8 * e, 8 * e, 16 * e + 32),
        layout(0, 8 * e, 8 * e, 17 * e),
    ];
    for layout in bad {
        assert!(
            matches!(
                Slots::new(SimFlash::new(SECTORS), layout),
                Err(SlotError::BadLayout(_))
            ),
            "{layout:?}"
        );
    }
    assert!(Slots::new(SimFlash::new(SECTORS), LAYOUT).is_ok());
}

#[test]
fn the_counter_survives_reboots_and_refuses_downgrades_even_of_a_confirmed_old_slot() {
    let v1 = image(1, 6_000, 1);
    let v2 = image(2, 6_000, 2);
    let v3 = image(3, 6_000, 3);
    let flash = provisioned(&v1);
    let (mut slots, _) = boot_and_confirm(flash);
    assert_eq!(slots.floor(), Ok(Some(1)));
    send(&mut slots, &v2, 2, &[1000]).unwrap();
    // Pending is not confirmed: the counter stays.
    assert_eq!(slots.floor(), Ok(Some(1)));
    let (slots, boot) = boot_and_confirm(slots.into_flash());
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::B, 2));

    // After a reboot the counter (read from the flash) refuses the old plugin as an update.
    let (mut slots, boot) = boot_and_confirm(slots.into_flash());
    assert!(matches!(boot, Boot::Confirmed { sequence: 2, .. }));
    assert_eq!(slots.floor(), Ok(Some(2)));
    assert_eq!(
        send(&mut slots, &v1, 1, &[1000]),
        Err(SlotError::Downgrade {
            sequence: 1,
            current: 2
        })
    );

    // Slot B gets corrupted. Slot A still holds sequence 1, confirmed and intact: without
    // the counter the device would fall back to it (a rollback); with it nothing boots.
    let mut flash = slots.into_flash();
    flash.data_mut()[LAYOUT.slot_b as usize + ERASE_SIZE + 10] ^= 0x01;
    let mut slots = Slots::new(flash, LAYOUT).unwrap();
    assert_eq!(slots.boot(&verify), Err(SlotError::NoBootableImage));
    assert_eq!(slots.floor(), Ok(Some(2)));
    // Reinstalling the old plugin is refused; reinstalling sequence 2 (or above) is not.
    assert_eq!(
        slots.begin_update(v1.len(), 1).err(),
        Some(SlotError::Downgrade {
            sequence: 1,
            current: 2
        })
    );
    // The same old image written back behind the slots' back is never tried either.
    let provision = slots.provision(&v1, &verify);
    assert_eq!(
        provision,
        Err(SlotError::Downgrade {
            sequence: 1,
            current: 2
        })
    );
    let mut update = slots.begin_update(v2.len(), 2).unwrap();
    assert_eq!(update.slot(), SlotId::A);
    update.write(&v2).unwrap();
    update.finish(&verify, |_| true).unwrap();
    let (mut slots, boot) = boot_and_confirm(slots.into_flash());
    assert!(matches!(
        boot,
        Boot::Trial {
            slot: SlotId::A,
            sequence: 2,
            ..
        }
    ));
    assert_eq!(img(&mut slots, &boot), v2);
    send(&mut slots, &v3, 3, &[4096]).unwrap();
    let (mut slots, boot) = boot_and_confirm(slots.into_flash());
    assert_eq!((boot.slot(), boot.sequence()), (SlotId::B, 3));
    assert_eq!(slots.floor(), Ok(Some(3)));
}

#[test]
fn an_install_is_refused_before_boot_and_a_pending_image_below_the_counter_is_never_tried() {
    // Before `boot` nothing may be installed (it could erase the running plugin's slot).
    let mut slots = Slots::new(SimFlash::new(SECTORS), LAYOUT).unwrap();
    assert!(matches!(
        slots.begin_update(100, 1),
        Err(SlotError::NoBootableImage)
    ));
    // An empty device: boot finds nothing, then an install goes to slot A as a trial.
    assert_eq!(slots.boot(&verify), Err(SlotError::NoBootableImage));
    assert_eq!(slots.floor(), Ok(None));
    let v4 = image(4, 3_000, 4);
    let mut update = slots.begin_update(v4.len(), 4).unwrap();
    update.write(&v4).unwrap();
    update.finish(&verify, |_| true).unwrap();
    // The counter is raised behind the pending image's back (say by a revocation).
    slots.raise_floor(5).unwrap();
    let mut slots = Slots::new(slots.into_flash(), LAYOUT).unwrap();
    assert_eq!(slots.boot(&verify), Err(SlotError::NoBootableImage));
    assert_eq!(slots.floor(), Ok(Some(5)));
    // Raising never lowers.
    slots.raise_floor(3).unwrap();
    assert_eq!(slots.floor(), Ok(Some(5)));
}

#[test]
fn a_power_cut_while_the_counter_is_written_never_lowers_it_nor_wedges_it() {
    let mut flash = SimFlash::new(SECTORS);
    let mut erases_seen = 0;
    // 300 raises: 128 records fit a sector, so the log moves between its two sectors
    // (erasing the other one) twice.
    for k in 1..=300u64 {
        let mut counting = flash.clone();
        counting.cut_power_after(u64::MAX, false);
        let mut slots = Slots::new(counting, LAYOUT).unwrap();
        slots.raise_floor(k).unwrap();
        let ops = slots.into_flash().ops();
        assert!(ops == 1 || ops == 2, "raise {k}: {ops} operations");
        if ops == 2 {
            erases_seen += 1;
        }
        for n in 0..ops {
            for torn in [false, true] {
                let what = format!("raise to {k}, cut at op {n} of {ops}, torn {torn}");
                let mut cut = flash.clone();
                cut.cut_power_after(n, torn);
                let mut slots = Slots::new(cut, LAYOUT).unwrap();
                assert!(slots.raise_floor(k).is_err(), "{what}");
                let mut cut = slots.into_flash();
                cut.restore_power();
                let mut slots = Slots::new(cut, LAYOUT).unwrap();
                let floor = slots.floor().unwrap();
                let before = if k == 1 { None } else { Some(k - 1) };
                assert!(floor == before || floor == Some(k), "{what}: {floor:?}");
                // Still works: the raise and a further one go through.
                slots.raise_floor(k).unwrap();
                slots.raise_floor(k + 1).unwrap();
                assert_eq!(slots.floor(), Ok(Some(k + 1)), "{what}");
            }
        }
        let mut slots = Slots::new(flash, LAYOUT).unwrap();
        slots.raise_floor(k).unwrap();
        assert_eq!(slots.floor(), Ok(Some(k)));
        flash = slots.into_flash();
    }
    assert_eq!(erases_seen, 2);
}

#[test]
fn the_trust_record_round_trips_and_a_corrupt_one_is_refused() {
    let mut slots = Slots::new(SimFlash::new(SECTORS), LAYOUT).unwrap();
    assert!(matches!(slots.read_trust(), Err(SlotError::Trust(_))));
    let keys: Vec<[u8; 33]> = (0..3u8)
        .map(|i| {
            let mut k = [i; 33];
            k[0] = 1;
            k
        })
        .collect();
    slots.write_trust(&keys).unwrap();
    assert_eq!(slots.read_trust().unwrap(), keys);
    slots.write_trust(&keys[1..]).unwrap();
    assert_eq!(slots.read_trust().unwrap(), keys[1..]);
    assert!(matches!(slots.write_trust(&[]), Err(SlotError::Trust(_))));
    assert!(matches!(
        slots.write_trust(&[[1; 33]; 17]),
        Err(SlotError::Trust(_))
    ));
    // One flipped bit in a key: the CRC refuses the record.
    let mut flash = slots.into_flash();
    flash.data_mut()[LAYOUT.state as usize + 20] ^= 0x10;
    let mut slots = Slots::new(flash, LAYOUT).unwrap();
    assert_eq!(
        slots.read_trust(),
        Err(SlotError::Trust("corrupt trust record (CRC)"))
    );
}
