//! Bad inputs give `invalid-input` errors from the plugin, never a trap, and the instance
//! keeps working afterwards.
use crate::common::*;
use edgeplug_mcu::{ElementType, Error, ErrorCode, TensorRef};

fn assert_invalid(
    plugin: &mut edgeplug_mcu::Plugin<edgeplug_mcu::NullHost>,
    inputs: &[TensorRef<'_>],
    what: &str,
) {
    match plugin.infer(inputs) {
        Err(Error::Plugin {
            code: ErrorCode::InvalidInput,
            message,
        }) => assert!(!message.is_empty(), "{what}"),
        other => panic!("{what}: expected invalid-input, got {other:?}"),
    }
}

fn check(name: &str, good_shape: &[u32], dtype: ElementType, other_dtype: ElementType) {
    let Some(_) = shared_dir() else { return };
    let mut plugin = signed_plugin(name).expect("built when ../shared exists");
    let elem = match dtype {
        ElementType::Int16 => 2,
        _ => 1,
    };
    let len = good_shape.iter().product::<u32>() as usize * elem;
    let good = vec![1u8; len];
    let cases: Vec<(Vec<u32>, ElementType, Vec<u8>, &str)> = vec![
        (
            good_shape.to_vec(),
            other_dtype,
            good.clone(),
            "wrong dtype",
        ),
        (good_shape.to_vec(), dtype, Vec::new(), "empty data"),
        (
            good_shape.to_vec(),
            dtype,
            good[..len - 1].to_vec(),
            "one byte short",
        ),
        (
            good_shape.to_vec(),
            dtype,
            [good.clone(), vec![0; 2]].concat(),
            "two bytes too many",
        ),
        (vec![], dtype, Vec::new(), "rank 0"),
        (
            [good_shape, &[1]].concat(),
            dtype,
            good.clone(),
            "extra dimension",
        ),
        (vec![0; good_shape.len()], dtype, Vec::new(), "zero extents"),
    ];
    for (shape, dt, data, what) in &cases {
        let input = TensorRef {
            shape,
            dtype: *dt,
            data,
        };
        assert_invalid(&mut plugin, &[input], &format!("{name}: {what}"));
    }
    let input = TensorRef {
        shape: good_shape,
        dtype,
        data: &good,
    };
    assert_invalid(&mut plugin, &[], &format!("{name}: no inputs"));
    assert_invalid(&mut plugin, &[input, input], &format!("{name}: two inputs"));
    // Still usable.
    plugin.infer(&[input]).unwrap();
}

#[test]
fn kws_refuses_bad_inputs() {
    check("kws", &[16_000], ElementType::Int16, ElementType::Int8);
    let Some(_) = shared_dir() else { return };
    let mut plugin = signed_plugin("kws").unwrap();
    let short = vec![0u8; 2 * 8000];
    assert_invalid(
        &mut plugin,
        &[TensorRef {
            shape: &[8000],
            dtype: ElementType::Int16,
            data: &short,
        }],
        "half a second",
    );
}

#[test]
fn anomaly_refuses_bad_inputs() {
    check(
        "anomaly",
        &[160_000],
        ElementType::Int16,
        ElementType::Float32,
    );
}

#[test]
fn image_plugins_refuse_bad_inputs() {
    check("ic", &[4, 5, 3], ElementType::Uint8, ElementType::Int8);
    check("vww", &[4, 5, 3], ElementType::Uint8, ElementType::Int8);
    let Some(_) = shared_dir() else { return };
    let mut plugin = signed_plugin("ic").unwrap();
    for (shape, what) in [
        (&[4u32, 5, 1][..], "grey image"),
        (&[4, 0, 3][..], "zero width"),
        (&[65_536, 65_536, 3][..], "huge shape, little data"),
    ] {
        assert_invalid(
            &mut plugin,
            &[TensorRef {
                shape,
                dtype: ElementType::Uint8,
                data: &[0; 60],
            }],
            what,
        );
    }
}
