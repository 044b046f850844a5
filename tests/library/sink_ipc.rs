//! IpcSink: a verified round trip through a file, TCP (loopback) and a Unix socket;
//! every truncation is rejected; a client that disconnects is a typed error; the Python
//! client accepts the stream and rejects its truncations.

use std::fs;
use std::io::{BufWriter, Read};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt64Type};
use arrow_array::RecordBatch;
use ndarray::Array2;
use shardmix::{
    open_stream, read_verified_stream, Batch, DataSpec, ErrorKind, FeatureLayout, IpcSink, Origin, Provenance,
    TargetKind, Trailer,
};

fn list_spec(len: usize) -> DataSpec {
    DataSpec {
        features: FeatureLayout::List { column: "pixels".into(), len },
        target: TargetKind::Soft { column: "y".into(), width: 3 },
        feature_shape: None,
        pixels: Default::default(),
    }
}

fn columns_spec() -> DataSpec {
    DataSpec {
        features: FeatureLayout::Columns(vec!["a".into(), "b".into()]),
        target: TargetKind::Class { column: "label".into(), num_classes: 2 },
        feature_shape: None,
        pixels: Default::default(),
    }
}

fn batch(spec: &DataSpec, step: u64, rows: usize) -> Batch {
    let f = spec.num_features();
    let c = spec.num_targets();
    let x = Array2::from_shape_fn((rows, f), |(i, j)| step as f32 + i as f32 * 0.5 + j as f32 * 0.01);
    let y = Array2::from_shape_fn((rows, c), |(i, j)| if (i + j) % c == 0 { 1.0 } else { 0.0 });
    let ids: Vec<u64> = (0..rows as u64).map(|i| step * 100 + i).collect();
    let mut b = Batch::new(step, x, Some(y), ids.clone()).unwrap();
    b.provenance = Provenance {
        origin: (0..rows).map(|i| if i % 2 == 0 { Origin::Real } else { Origin::Vae }).collect(),
        row_a: ids,
        row_b: (0..rows).map(|i| (i % 3 == 0).then_some(i as u64)).collect(),
        lambda: (0..rows).map(|i| (i % 3 == 0).then_some(0.5)).collect(),
    };
    b
}

/// Row counts of the batches written by `write_stream` (one empty batch included).
const ROWS: [usize; 4] = [5, 3, 0, 4];

fn write_stream<W: std::io::Write>(w: W, spec: &DataSpec, target: &str) -> Trailer {
    let mut sink = IpcSink::new(w, target, spec, true).unwrap();
    for (s, &n) in ROWS.iter().enumerate() {
        sink.write(&batch(spec, s as u64, n)).unwrap();
    }
    sink.finish().unwrap()
}

fn check_batches(spec: &DataSpec, batches: &[RecordBatch]) {
    assert_eq!(batches.len(), ROWS.len());
    for (s, (rb, &n)) in batches.iter().zip(ROWS.iter()).enumerate() {
        let want = batch(spec, s as u64, n);
        assert_eq!(rb.num_rows(), n);
        match &spec.features {
            FeatureLayout::List { column, .. } => {
                let l = rb.column_by_name(column).unwrap().as_fixed_size_list();
                let v = l.values().as_primitive::<Float32Type>();
                assert_eq!(v.values().as_ref(), want.features.as_slice().unwrap());
            }
            FeatureLayout::Columns(names) => {
                for (j, name) in names.iter().enumerate() {
                    let col = rb.column_by_name(name).unwrap().as_primitive::<Float32Type>();
                    let w: Vec<f32> = want.features.column(j).to_vec();
                    assert_eq!(col.values().as_ref(), w.as_slice());
                }
            }
        }
        let t = rb.column_by_name("target").unwrap().as_fixed_size_list();
        let tv = t.values().as_primitive::<Float32Type>();
        assert_eq!(tv.values().as_ref(), want.targets.as_ref().unwrap().as_slice().unwrap());
        let steps = rb.column_by_name("step").unwrap().as_primitive::<UInt64Type>();
        assert!(steps.values().iter().all(|&v| v == s as u64));
        let origin = rb.column_by_name("origin").unwrap().as_string::<i32>();
        for i in 0..n {
            assert_eq!(origin.value(i), want.provenance.origin[i].as_str());
        }
    }
}

/// Offsets where each message of an IPC stream ends (the last is the end-of-stream marker).
fn message_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut pos = 0;
    loop {
        assert_eq!(&bytes[pos..pos + 4], &[0xff; 4]);
        let len = i32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if len == 0 {
            ends.push(pos + 8);
            return ends;
        }
        let msg = arrow_ipc::root_as_message(&bytes[pos + 8..pos + 8 + len]).unwrap();
        pos += 8 + len + msg.bodyLength() as usize;
        ends.push(pos);
    }
}

#[test]
fn file_round_trip_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.arrows");
    for spec in [list_spec(6), columns_spec()] {
        let f = fs::File::create(&path).unwrap();
        let t = write_stream(BufWriter::new(f), &spec, "file");
        assert_eq!(t.rows, ROWS.iter().sum::<usize>() as u64);
        assert_eq!(t.batches, ROWS.len() as u64);
        let (batches, read) = read_verified_stream(fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(read, t);
        check_batches(&spec, &batches);
    }
}

#[test]
fn every_truncation_fails_verification() {
    let spec = list_spec(4);
    let mut bytes = Vec::new();
    write_stream(&mut bytes, &spec, "mem");
    let ends = message_ends(&bytes);
    // schema + 4 batches + trailer + end-of-stream marker
    assert_eq!(ends.len(), 7);
    assert_eq!(*ends.last().unwrap(), bytes.len());
    let mut cuts: Vec<usize> = vec![0, 3];
    for &e in &ends[..ends.len() - 1] {
        cuts.extend([e, e + 4, e + 9, e + 20]); // at the boundary, in the prefix, header, body
    }
    cuts.push(bytes.len() - 1);
    for cut in cuts.into_iter().filter(|&c| c < bytes.len()) {
        let err = read_verified_stream(&bytes[..cut]).err();
        assert!(err.is_some(), "a stream cut at byte {cut} of {} was accepted", bytes.len());
    }
    // The reason this matters: plain arrow-rs accepts a cut after batch 2 as a complete stream.
    let cut = &bytes[..ends[2]];
    let reader = arrow_ipc::reader::StreamReader::try_new(cut, None).unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, ROWS[0] + ROWS[1]);
    let err = read_verified_stream(cut).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn tcp_loopback_round_trip() {
    let spec = columns_spec();
    let target = open_stream("tcp:127.0.0.1:0", false).unwrap();
    let addr = target.local_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let desc = target.description().to_string();
    let reader = std::thread::spawn(move || {
        let s = std::net::TcpStream::connect(addr).unwrap();
        read_verified_stream(s)
    });
    let w = target.accept(Some(Duration::from_secs(20))).unwrap();
    let t = write_stream(w, &spec, &desc);
    let (batches, read) = reader.join().unwrap().unwrap();
    assert_eq!(read, t);
    check_batches(&spec, &batches);
}

#[test]
fn unix_socket_round_trip() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("shardmix.sock");
    let spec = list_spec(3);
    let target = open_stream(&format!("unix:{}", sock.display()), false).unwrap();
    assert_eq!(fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);
    let p = sock.clone();
    let reader = std::thread::spawn(move || {
        let s = std::os::unix::net::UnixStream::connect(&p).unwrap();
        read_verified_stream(s)
    });
    let w = target.accept(Some(Duration::from_secs(20))).unwrap();
    let t = write_stream(w, &spec, "unix");
    let (batches, read) = reader.join().unwrap().unwrap();
    assert_eq!(read, t);
    check_batches(&spec, &batches);
    assert!(!sock.exists(), "the socket file is removed at the end");
}

#[test]
fn a_client_that_disconnects_ends_the_run_with_a_typed_error() {
    let spec = list_spec(1000);
    let target = open_stream("tcp:127.0.0.1:0", false).unwrap();
    let addr = target.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut head = [0u8; 64];
        s.read_exact(&mut head).unwrap(); // part of the schema, then go away
    });
    let w = target.accept(Some(Duration::from_secs(20))).unwrap();
    let mut sink = IpcSink::new(w, "tcp-test", &spec, false).unwrap();
    client.join().unwrap();
    // 400 KB per batch: the kernel buffers fill and the reset surfaces within a few batches.
    let b = batch(&spec, 0, 100);
    let mut err = None;
    for step in 0..2000u64 {
        let mut b = b.clone();
        b.step = step;
        if let Err(e) = sink.write(&b) {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("writing to a closed connection must fail");
    assert!(matches!(err.kind(), ErrorKind::Disconnected { .. }), "{err:?}");
    assert!(err.to_string().contains("the client disconnected after"), "{err}");
}

#[test]
fn python_client_verifies_and_rejects_truncations() {
    let Some(python) = crate::common::venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.arrows");
    let cols = dir.path().join("columns.arrows");
    write_stream(BufWriter::new(fs::File::create(&list).unwrap()), &list_spec(6), "list");
    write_stream(BufWriter::new(fs::File::create(&cols).unwrap()), &columns_spec(), "cols");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_ipc_client.py");
    let out = Command::new(&python).arg(&script).arg(&list).arg(&cols).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python client test failed:\n{text}");
    assert!(text.contains("truncations rejected"), "{text}");
}
