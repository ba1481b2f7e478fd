//! Tests of the packer and componentizer.
use edgeplug_model::{DType, Model, OpKind, Operator, Quantization, Tensor};
use edgeplug_plugins::{
    PackError, RUNNER_MODULE, RunnerMeta, SLOT_MAGIC, componentize, pack_module, pack_runner,
    with_plugin_world,
};
use wasmparser::{Parser, Payload};

fn reshape_epm(n: u32) -> Vec<u8> {
    let q = Some(Quantization::per_tensor(0.5, 0));
    edgeplug_model::format::encode(&Model {
        name: "reshape".into(),
        description: String::new(),
        tensors: vec![
            Tensor::activation("in", DType::I8, &[1, n], q.clone()),
            Tensor::activation("out", DType::I8, &[n], q),
        ],
        operators: vec![Operator {
            kind: OpKind::Reshape,
            inputs: vec![0],
            outputs: vec![1],
        }],
        inputs: vec![0],
        outputs: vec![1],
    })
    .unwrap()
}

/// (initial pages, active data segments as (offset, bytes)).
fn memory_and_data(module: &[u8]) -> (u64, Vec<(i32, Vec<u8>)>) {
    let mut pages = 0;
    let mut data = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload.unwrap() {
            Payload::MemorySection(s) => pages = s.into_iter().next().unwrap().unwrap().initial,
            Payload::DataSection(s) => {
                for d in s {
                    let d = d.unwrap();
                    if let wasmparser::DataKind::Active { offset_expr, .. } = d.kind {
                        let mut ops = offset_expr.get_operators_reader();
                        let wasmparser::Operator::I32Const { value } = ops.read().unwrap() else {
                            panic!("non-constant offset")
                        };
                        data.push((value, d.data.to_vec()));
                    }
                }
            }
            _ => {}
        }
    }
    (pages, data)
}

#[test]
fn the_runner_module_has_one_empty_slot() {
    let (_, data) = memory_and_data(RUNNER_MODULE);
    let slots: Vec<_> = data
        .iter()
        .flat_map(|(_, bytes)| {
            bytes
                .windows(24)
                .filter(|w| w[..16] == SLOT_MAGIC)
                .map(|w| w[16..].to_vec())
        })
        .collect();
    assert_eq!(slots, [vec![0u8; 8]]);
}

#[test]
fn packing_appends_the_payload_past_the_initial_memory_and_fills_the_slot() {
    let epm = reshape_epm(100_000); // a model description only; not 100 kB
    let meta = RunnerMeta {
        name: "renamed".into(),
        version: "2.0.1".into(),
        labels: vec!["a".into(), "b c".into()],
    };
    let packed = pack_module(RUNNER_MODULE, &epm, &meta).unwrap();
    let (pages_before, data_before) = memory_and_data(RUNNER_MODULE);
    let (pages_after, data_after) = memory_and_data(&packed);
    assert_eq!(data_after.len(), data_before.len() + 1);
    let (offset, payload) = data_after.last().unwrap();
    assert_eq!(*offset as u64, pages_before * 65536);
    let text = "renamed\n2.0.1\na\nb c";
    assert_eq!(payload[..4], (text.len() as u32).to_le_bytes());
    assert_eq!(&payload[4..4 + text.len()], text.as_bytes());
    assert_eq!(&payload[4 + text.len()..], epm.as_slice());
    assert_eq!(
        pages_after,
        pages_before + (payload.len() as u64).div_ceil(65536)
    );
    // The slot now points at the payload.
    let slot: Vec<u8> = data_after
        .iter()
        .find_map(|(_, b)| {
            b.windows(24)
                .find(|w| w[..16] == SLOT_MAGIC)
                .map(|w| w[16..].to_vec())
        })
        .unwrap();
    assert_eq!(slot[..4], (*offset as u32).to_le_bytes());
    assert_eq!(slot[4..], (payload.len() as u32).to_le_bytes());
    // And the result is a valid module that componentizes.
    let component = componentize(&packed).unwrap();
    assert_eq!(&component[..8], b"\0asm\x0d\0\x01\0");
}

#[test]
fn large_payloads_take_several_pages() {
    let base = reshape_epm(4);
    let meta = RunnerMeta {
        labels: (0..20_000).map(|i| format!("label number {i}")).collect(),
        ..RunnerMeta::default()
    };
    let packed = pack_module(RUNNER_MODULE, &base, &meta).unwrap();
    let (before, _) = memory_and_data(RUNNER_MODULE);
    let (after, data) = memory_and_data(&packed);
    let payload_len = data.last().unwrap().1.len() as u64;
    assert!(payload_len > 3 * 65536);
    assert_eq!(after - before, payload_len.div_ceil(65536));
}

#[test]
fn bad_models_and_metadata_are_refused() {
    let meta = RunnerMeta::default();
    assert!(matches!(
        pack_runner(b"not a model", &meta),
        Err(PackError::Model(edgeplug_model::Error::BadMagic))
    ));
    let mut corrupt = reshape_epm(4);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert!(matches!(
        pack_runner(&corrupt, &meta),
        Err(PackError::Model(_))
    ));
    let epm = reshape_epm(4);
    for bad in [
        RunnerMeta {
            name: "a\nb".into(),
            ..RunnerMeta::default()
        },
        RunnerMeta {
            version: "1\r".into(),
            ..RunnerMeta::default()
        },
        RunnerMeta {
            labels: vec!["x\ny".into()],
            ..RunnerMeta::default()
        },
    ] {
        let err = pack_runner(&epm, &bad).unwrap_err();
        assert!(matches!(err, PackError::Metadata(_)), "{err}");
        assert!(err.to_string().contains("line break"), "{err}");
    }
}

#[test]
fn modules_without_exactly_one_slot_are_refused() {
    let epm = reshape_epm(4);
    let meta = RunnerMeta::default();
    let magic: String = SLOT_MAGIC.iter().map(|b| format!("\\{b:02x}")).collect();
    let module = |data: &str| {
        wat::parse_str(format!(r#"(module (memory (export "memory") 1) {data})"#)).unwrap()
    };
    let none = module(r#"(data (i32.const 16) "hello")"#);
    assert!(matches!(
        pack_module(&none, &epm, &meta),
        Err(PackError::Slot(0))
    ));
    let no_data = module("");
    assert!(matches!(
        pack_module(&no_data, &epm, &meta),
        Err(PackError::Slot(0))
    ));
    let two = module(&format!(
        r#"(data (i32.const 16) "{magic}\00\00\00\00\00\00\00\00") (data (i32.const 64) "{magic}\00\00\00\00\00\00\00\00")"#
    ));
    assert!(matches!(
        pack_module(&two, &epm, &meta),
        Err(PackError::Slot(2))
    ));
    let truncated = module(&format!(r#"(data (i32.const 16) "{magic}\00\00")"#));
    assert!(matches!(
        pack_module(&truncated, &epm, &meta),
        Err(PackError::Slot(2))
    ));
    let one = module(&format!(
        r#"(data (i32.const 16) "{magic}\00\00\00\00\00\00\00\00")"#
    ));
    pack_module(&one, &epm, &meta).unwrap();
    let no_memory = wat::parse_str("(module)").unwrap();
    assert!(matches!(
        pack_module(&no_memory, &epm, &meta),
        Err(PackError::Module(_))
    ));
    let component = pack_runner(&epm, &meta).unwrap();
    assert!(matches!(
        pack_module(&component, &epm, &meta),
        Err(PackError::Module(_))
    ));
}

#[test]
fn componentize_refuses_modules_outside_the_world() {
    let wasi = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1))"#,
    )
    .unwrap();
    let err = componentize(&with_plugin_world(&wasi).unwrap()).unwrap_err();
    assert!(matches!(err, PackError::Componentize(_)), "{err}");
    let with_world = with_plugin_world(RUNNER_MODULE).unwrap();
    assert_eq!(
        with_world, RUNNER_MODULE,
        "a module with the section is returned as is"
    );
}
