//! `.npy` files written by numpy itself (scripts/reference/make_fid_reference.py) read back.

mod common;

use std::path::PathBuf;

use incant_image_metrics::read_npy;

#[test]
fn numpy_layouts_read_back() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/npy");
    let expected = common::uniforms(51, 12);
    for (file, rows, single) in [
        ("c_f4.npy", 3, true),
        ("fortran_f8.npy", 3, false),
        ("big_endian_f4.npy", 3, true),
        ("v2_f8.npy", 3, false),
        ("one_row_f4.npy", 1, true),
    ] {
        let f = read_npy(&dir.join(file)).unwrap();
        assert_eq!((f.rows(), f.dims()), (rows, 12 / rows), "{file}");
        for (got, want) in f.as_slice().iter().zip(&expected) {
            let want = if single {
                f64::from(*want as f32)
            } else {
                *want
            };
            assert_eq!(*got, want, "{file}");
        }
    }
    let missing = read_npy(&dir.join("missing.npy")).unwrap_err().to_string();
    assert!(missing.contains("missing.npy: cannot read it"), "{missing}");
}
