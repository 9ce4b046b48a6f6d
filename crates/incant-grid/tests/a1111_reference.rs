//! Axis values and labels against AUTOMATIC1111's own `process_axis` and
//! `format_value_add_label` on 240 inputs (`scripts/reference/make_xyz_grid_reference.py`).

use incant_grid::values::{parse_float_values, parse_int_values};
use incant_grid::{value_label, AxisKind, AxisValue};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = include_str!("data/a1111_axis_values.json");
    let v: Value = serde_json::from_str(text).expect("reference JSON parses");
    v["cases"].as_array().expect("cases").clone()
}

/// Floats are stored as Python's repr; Rust's parser rounds correctly, so this is exact.
fn float_of(v: &Value) -> f64 {
    v.as_str()
        .expect("floats are stored as repr strings")
        .parse()
        .expect("a Python float repr")
}

#[test]
fn int_axis_matches_a1111() {
    let cases = cases();
    assert!(cases.len() >= 200);
    let mut errors = 0;
    for case in &cases {
        let input = case["input"].as_str().unwrap();
        let want = &case["int"];
        let got = parse_int_values(input);
        match (want.get("values"), got) {
            (Some(values), Ok(got)) => {
                let want_values: Vec<i64> = values
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                assert_eq!(got, want_values, "input {input:?}");
                let labels: Vec<String> = got
                    .iter()
                    .map(|&i| value_label(&AxisKind::Steps, &AxisValue::Int(i)))
                    .collect();
                let want_labels: Vec<&str> = want["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(labels, want_labels, "input {input:?}");
            }
            (None, Err(_)) => errors += 1,
            (Some(_), Err(e)) => panic!("input {input:?}: A1111 reads it, we fail: {e:?}"),
            (None, Ok(got)) => panic!(
                "input {input:?}: A1111 raises {}, we read {got:?}",
                want["error"]
            ),
        }
    }
    assert!(errors > 20, "the reference exercises errors too ({errors})");
}

#[test]
fn float_axis_matches_a1111_bit_for_bit() {
    for case in &cases() {
        let input = case["input"].as_str().unwrap();
        let want = &case["float"];
        let got = parse_float_values(input);
        match (want.get("values"), got) {
            (Some(values), Ok(got)) => {
                let want_values: Vec<f64> =
                    values.as_array().unwrap().iter().map(float_of).collect();
                assert_eq!(
                    got.len(),
                    want_values.len(),
                    "input {input:?}: {got:?} vs {want_values:?}"
                );
                for (g, w) in got.iter().zip(&want_values) {
                    assert!(
                        g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                        "input {input:?}: {got:?} vs {want_values:?}"
                    );
                }
                let labels: Vec<String> = got
                    .iter()
                    .map(|&f| value_label(&AxisKind::CfgScale, &AxisValue::Float(f)))
                    .collect();
                let want_labels: Vec<&str> = want["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(labels, want_labels, "input {input:?}");
            }
            (None, Err(_)) => {}
            (Some(_), Err(e)) => panic!("input {input:?}: A1111 reads it, we fail: {e:?}"),
            (None, Ok(got)) => panic!(
                "input {input:?}: A1111 raises {}, we read {got:?}",
                want["error"]
            ),
        }
    }
}
