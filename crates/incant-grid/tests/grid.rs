//! Expansion, prompt matrices, contact sheets, HTML and the curve plot, end to end on real
//! PNGs (made here, decoded back with the png crate).

use incant_grid::{
    contact_sheets, curve_csv, curve_png, default_cfg_scales, prompt_matrix, render_html,
    run_cells, Axis, AxisKind, CurvePoint, CurveSeries, ExpandOptions, Grid, GridBase, GridError,
    HtmlImages, HtmlOptions, MatrixOptions, RenderedPrompt, SheetLayout, SheetOptions,
};
use incant_image_provider::{GeneratedImage, ImageError, ImageRequest, ImageResponse};
use std::collections::BTreeMap;
use std::time::Duration;

fn base(prompt: &str) -> GridBase {
    GridBase {
        request: ImageRequest {
            prompt: prompt.into(),
            negative_prompt: "blurry".into(),
            width: 96,
            height: 64,
            seed: Some(42),
            ..ImageRequest::default()
        },
        provider: "a1111:http://127.0.0.1:7860".into(),
        vars: BTreeMap::new(),
    }
}

fn solid_png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().unwrap();
    let px: Vec<u8> = (0..w * h).flat_map(|_| rgb).collect();
    wr.write_image_data(&px).unwrap();
    drop(wr);
    out
}

fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(png_bytes);
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn pixel(img: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 3] {
    let o = ((y * img.0 + x) * 3) as usize;
    [img.2[o], img.2[o + 1], img.2[o + 2]]
}

fn color_of(i: usize) -> [u8; 3] {
    [(40 * i % 256) as u8, (90 + 30 * i % 160) as u8, 200]
}

#[test]
fn expansion_applies_axes_in_order() {
    let grid = Grid {
        x: Axis::parse(AxisKind::CfgScale, "3-7 (+2)").unwrap(),
        y: Some(Axis::parse(AxisKind::PromptSr, "cat, dog").unwrap()),
        z: Some(Axis::parse(AxisKind::Provider, "a1111:http://a, comfyui:http://b").unwrap()),
    };
    let e = grid
        .expand(&base("a cat on a mat"), &ExpandOptions::default())
        .unwrap();
    assert_eq!((e.nx, e.ny, e.nz), (3, 2, 2));
    assert_eq!(e.cells.len(), 12);
    let c = e.cell(2, 1, 1);
    assert_eq!((c.x, c.y, c.z), (2, 1, 1));
    assert_eq!(c.request.cfg_scale, 7.0);
    assert_eq!(c.request.prompt, "a dog on a mat");
    assert_eq!(c.provider, "comfyui:http://b");
    assert_eq!(c.request.seed, Some(42));
    assert_eq!(e.cell(0, 0, 0).request.prompt, "a cat on a mat");
    let labels: Vec<String> = e.x_labels.iter().map(|l| l.plain()).collect();
    assert_eq!(
        labels,
        ["CFG Scale: 3.0", "CFG Scale: 5.0", "CFG Scale: 7.0"]
    );
    assert_eq!(
        e.titles,
        [
            "CFG Scale".to_string(),
            "Prompt S/R".into(),
            "Provider".into()
        ]
    );
    // The provider (A1111's checkpoint) is the outer loop: all of z=0 before z=1.
    assert!(e.order[..6].iter().all(|&i| e.cells[i].z == 0));
    let mut sorted = e.order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..12).collect::<Vec<_>>());
}

#[test]
fn search_string_must_be_in_the_prompt() {
    let grid = Grid::new(Axis::parse(AxisKind::PromptSr, "horse, cow").unwrap());
    let err = grid
        .expand(&base("a cat"), &ExpandOptions::default())
        .unwrap_err();
    assert!(matches!(err, GridError::SearchNotFound { .. }), "{err}");
    assert!(err.to_string().contains("horse"));
    let grid = Grid::new(Axis::parse(AxisKind::NegativePromptSr, "blurry, noisy").unwrap());
    let e = grid
        .expand(&base("a cat"), &ExpandOptions::default())
        .unwrap();
    assert_eq!(e.cell(1, 0, 0).request.negative_prompt, "noisy");
    assert_eq!(e.cell(1, 0, 0).request.prompt, "a cat");
}

#[test]
fn random_seeds_fixed_once_per_axis_value() {
    let grid = Grid {
        x: Axis::parse(AxisKind::Seed, "-1, 5, -1").unwrap(),
        y: Some(Axis::parse(AxisKind::Steps, "10, 20").unwrap()),
        z: None,
    };
    let mut b = base("x");
    b.request.seed = None;
    let opts = ExpandOptions {
        rng_seed: Some(7),
        ..ExpandOptions::default()
    };
    let e = grid.expand(&b, &opts).unwrap();
    let s = |x, y| e.cell(x, y, 0).request.seed.unwrap();
    assert_eq!(s(1, 0), 5);
    assert_eq!(s(0, 0), s(0, 1), "a column shares its fixed seed");
    assert_ne!(s(0, 0), s(2, 0), "each -1 is drawn separately");
    assert!(s(0, 0) < 4_294_967_294);
    assert!(e.x_labels[0].plain().starts_with("Seed: "));
    assert_ne!(
        e.x_labels[0].plain(),
        "Seed: -1",
        "labels show the fixed seed as A1111 does"
    );
    let keep = ExpandOptions {
        keep_random_seeds: true,
        rng_seed: Some(7),
    };
    let e = grid.expand(&b, &keep).unwrap();
    assert_eq!(e.cell(0, 0, 0).request.seed, None);
    assert_eq!(e.cell(0, 0, 0).request.steps, 10);
    assert_eq!(e.cell(0, 1, 0).request.steps, 20);
}

#[test]
fn var_axis_renders_the_template() {
    let grid =
        Grid::new(Axis::parse(AxisKind::parse("var:animal").unwrap(), "cat,\"fox, red\"").unwrap());
    let mut b = base("unused");
    b.vars.insert("style".into(), "oil".into());
    let e = grid
        .expand_with(&b, &ExpandOptions::default(), |vars| {
            Ok(RenderedPrompt {
                prompt: format!("{} painting of a {}", vars["style"], vars["animal"]),
                negative_prompt: String::new(),
            })
        })
        .unwrap();
    assert_eq!(e.cell(1, 0, 0).request.prompt, "oil painting of a fox, red");
    assert_eq!(e.cell(1, 0, 0).vars["animal"], "fox, red");
    assert_eq!(e.x_labels[0].plain(), "animal: cat");
    assert!(matches!(
        grid.expand(&b, &ExpandOptions::default()),
        Err(GridError::Template { .. })
    ));
}

#[test]
fn prompt_matrix_order_is_a1111s() {
    let m = prompt_matrix(
        "a busy city street | illustration | cinematic lighting,",
        &MatrixOptions::default(),
    );
    assert_eq!(
        m.prompts,
        [
            "a busy city street ",
            "a busy city street , illustration",
            "a busy city street , cinematic lighting",
            "a busy city street , illustration, cinematic lighting",
        ]
    );
    let m = prompt_matrix(
        "a|b|c|d",
        &MatrixOptions {
            put_at_start: true,
            ..MatrixOptions::default()
        },
    );
    assert_eq!(m.prompts.len(), 8);
    assert_eq!(m.prompts[5], "b, d, a");
    let opts = MatrixOptions {
        different_seeds: true,
        ..MatrixOptions::default()
    };
    let e = m.expansion(&base("ignored"), &opts, &ExpandOptions::default());
    // 3 optional parts: 2 in the columns (4 columns), 1 in the rows (2 rows).
    assert_eq!((e.nx, e.ny), (4, 2));
    assert_eq!(e.cell(1, 1, 0).request.prompt, m.prompts[5]);
    assert_eq!(e.cell(1, 1, 0).request.seed, Some(47));
    let active: Vec<bool> = e.x_labels[1].lines.iter().map(|l| l.active).collect();
    assert_eq!(active, [true, false]);
}

fn generated_run(fail_at: Option<(usize, usize, usize)>) -> incant_grid::GridRun {
    let grid = Grid {
        x: Axis::parse(AxisKind::Steps, "10-30 (+10)").unwrap(),
        y: Some(Axis::parse(AxisKind::Sampler, "Euler a, DPM++ 2M").unwrap()),
        z: Some(Axis::parse(AxisKind::CfgScale, "5, 9").unwrap()),
    };
    let e = grid
        .expand(&base("a lighthouse at dusk"), &ExpandOptions::default())
        .unwrap();
    run_cells(e, |cell| {
        if Some((cell.x, cell.y, cell.z)) == fail_at {
            return Err(ImageError::Call(
                "HTTP 500 from a1111: CUDA out of memory".into(),
            ));
        }
        let i = cell.x + cell.y * 3 + cell.z * 6;
        // One provider answers at a different size: the sheet resizes it.
        let (w, h) = if i == 4 { (48, 32) } else { (96, 64) };
        Ok(ImageResponse {
            images: vec![GeneratedImage {
                png: solid_png(w, h, color_of(i)),
                seed: cell.request.seed,
            }],
            latency: Duration::from_millis(120 + i as u64),
            cost: None,
            metadata: serde_json::json!({"i": i}),
            warnings: vec![],
        })
    })
}

#[test]
fn contact_sheet_png_has_cells_and_labels() {
    let run = generated_run(Some((2, 1, 0)));
    let sheets = contact_sheets(
        &run,
        &SheetOptions {
            layout: SheetLayout::PerZ,
            ..SheetOptions::default()
        },
    )
    .unwrap();
    assert_eq!(sheets.len(), 2);
    let img = decode(&sheets[0].png);
    let (cw, ch) = (96u32, 64u32);
    let pad_left = cw * 3 / 4;
    assert_eq!(
        img.0,
        3 * cw + pad_left,
        "width: cells plus the row-label margin"
    );
    assert_eq!((img.0, img.1), (sheets[0].width, sheets[0].height));
    let plain = contact_sheets(
        &run,
        &SheetOptions {
            layout: SheetLayout::PerZ,
            draw_legend: false,
            ..SheetOptions::default()
        },
    )
    .unwrap();
    assert_eq!((plain[0].width, plain[0].height), (3 * cw, 2 * ch));
    // Above the cells: the z title, then the column labels.
    let top_band = img.1 - 2 * ch;
    assert!(top_band > 20, "label band {top_band} px");
    for y in 0..2 {
        for x in 0..3 {
            if (x, y) == (2, 1) {
                continue;
            }
            let (px, py) = (pad_left + x * cw + cw / 2, top_band + y * ch + ch / 2);
            assert_eq!(
                pixel(&img, px, py),
                color_of((x + y * 3) as usize),
                "cell ({x},{y})"
            );
        }
    }
    // The failed cell is a dark placeholder with light text in it.
    let (fx, fy) = (pad_left + 2 * cw, top_band + ch);
    assert_eq!(pixel(&img, fx + cw - 2, fy + ch - 2), [48, 48, 48]);
    let light = (fx..fx + cw)
        .flat_map(|x| (fy..fy + ch).map(move |y| (x, y)))
        .filter(|&(x, y)| pixel(&img, x, y)[0] > 150)
        .count();
    assert!(light > 20, "placeholder text drawn ({light} light pixels)");
    // Column labels above the cells and row labels left of them: dark ink on white.
    let ink = |x0: u32, x1: u32, y0: u32, y1: u32| {
        (x0..x1)
            .flat_map(|x| (y0..y1).map(move |y| (x, y)))
            .filter(|&(x, y)| pixel(&img, x, y)[0] < 100)
            .count()
    };
    for col in 0..3 {
        assert!(
            ink(pad_left + col * cw, pad_left + (col + 1) * cw, 0, top_band) > 10,
            "column {col} label"
        );
    }
    for row in 0..2 {
        assert!(
            ink(0, pad_left, top_band + row * ch, top_band + (row + 1) * ch) > 10,
            "row {row} label"
        );
    }
    // Combined: both z sub-grids side by side under their titles.
    let all = contact_sheets(&run, &SheetOptions::default()).unwrap();
    assert_eq!(all.len(), 1);
    let all_img = decode(&all[0].png);
    assert_eq!(all_img.0, 2 * (3 * cw + pad_left));
    assert!(all_img.1 > img.1 - 1);
}

#[test]
fn html_lists_every_cell_with_metadata() {
    let run = generated_run(Some((0, 1, 1)));
    let html = render_html(
        &run,
        &HtmlOptions {
            title: "lighthouse <grid>".into(),
            images: HtmlImages::DataUri,
        },
    );
    assert!(html.contains("lighthouse &lt;grid&gt;"));
    for cell in &run.expansion.cells {
        let tag = format!(
            "data-x=\"{}\" data-y=\"{}\" data-z=\"{}\"",
            cell.x, cell.y, cell.z
        );
        assert_eq!(html.matches(&tag).count(), 1, "{tag}");
    }
    assert_eq!(html.matches("data:image/png;base64,").count(), 11);
    assert!(html.contains("CUDA out of memory"));
    assert!(
        html.contains("DPM++ 2M")
            && html.contains("<dt>seed</dt><dd>42</dd>")
            && html.contains("<dd>121 ms</dd>")
    );
    assert!(html.contains("CFG Scale: 9.0"));
    let files = render_html(
        &run,
        &HtmlOptions {
            title: String::new(),
            images: HtmlImages::Files("img".into()),
        },
    );
    assert!(files.contains("src=\"img/cell-z0-y0-x0.png\""));
    let json = run.to_json();
    assert_eq!(json["cells"].as_array().unwrap().len(), 12);
    let failed = &json["cells"][9];
    assert_eq!(
        (
            failed["x"].as_u64(),
            failed["y"].as_u64(),
            failed["z"].as_u64()
        ),
        (Some(0), Some(1), Some(1))
    );
    assert_eq!(failed["ok"], false);
    assert!(failed["error"].as_str().unwrap().contains("CUDA"));
    assert_eq!(failed["labels"][1], "DPM++ 2M");
    assert_eq!(json["cells"][0]["request"]["steps"], 10);
    let dir = tempfile::tempdir().unwrap();
    incant_grid::write_cell_images(&run, dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 11);
}

#[test]
fn curve_png_decodes_and_csv_lists_points() {
    assert_eq!(
        default_cfg_scales(),
        [1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    );
    let series: Vec<CurveSeries> = ["local:sd", "a1111:http://127.0.0.1:7860"]
        .iter()
        .enumerate()
        .map(|(k, p)| CurveSeries {
            provider: p.to_string(),
            points: default_cfg_scales()
                .iter()
                .rev()
                .map(|&g| CurvePoint {
                    cfg_scale: g,
                    clip_score: 22.0 + g * 0.6 + k as f64,
                    fid: 30.0 - 2.0 * g + 0.4 * g * g + 3.0 * k as f64,
                })
                .collect(),
        })
        .collect();
    let img = decode(&curve_png(&series).unwrap());
    assert_eq!((img.0, img.1), (960, 640));
    // Both series' colours are on the plot.
    let has = |c: [u8; 3]| (0..img.0).any(|x| (0..img.1).any(|y| pixel(&img, x, y) == c));
    assert!(has([31, 119, 180]) && has([255, 127, 14]));
    let csv = curve_csv(&series);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "provider,cfg_scale,clip_score,fid");
    assert_eq!(lines.len(), 17);
    assert!(lines[1].starts_with("local:sd,1.5,22.9,"), "{}", lines[1]);
    assert!(curve_png(&[]).is_err());
    let bad = vec![CurveSeries {
        provider: "x".into(),
        points: vec![CurvePoint {
            cfg_scale: 7.0,
            clip_score: f64::NAN,
            fid: 1.0,
        }],
    }];
    assert!(matches!(curve_png(&bad), Err(GridError::Curve(_))));
}

#[test]
fn oversized_grids_are_refused_before_generating() {
    let grid = Grid {
        x: Axis::parse(AxisKind::Seed, "1-1000").unwrap(),
        y: Some(Axis::parse(AxisKind::Steps, "1-1000").unwrap()),
        z: None,
    };
    let err = grid
        .expand(&base("x"), &ExpandOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            GridError::TooManyCells {
                cells: 1_000_000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn axis_errors_name_the_axis_and_value() {
    let msg = Axis::parse(AxisKind::CfgScale, "5, 7-9 (+0)")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("axis CFG Scale") && msg.contains("`7-9 (+0)`") && msg.contains("hint:"),
        "{msg}"
    );
    let msg = Axis::parse(AxisKind::Steps, "1.5").unwrap_err().to_string();
    assert!(
        msg.contains("axis Steps") && msg.contains("`1.5`") && msg.contains("1-5 (+2)"),
        "{msg}"
    );
}

#[test]
fn prompt_matrix_on_the_negative_prompt_with_spaces() {
    let opts = MatrixOptions {
        negative: true,
        delimiter: incant_grid::MatrixDelimiter::Space,
        ..MatrixOptions::default()
    };
    let m = prompt_matrix("ugly| blurry |,lowres,", &opts);
    assert_eq!(
        m.prompts,
        ["ugly", "ugly blurry", "ugly lowres", "ugly blurry lowres"]
    );
    let e = m.expansion(&base("a cat"), &opts, &ExpandOptions::default());
    assert_eq!((e.nx, e.ny), (2, 2));
    assert_eq!(
        e.cell(1, 1, 0).request.negative_prompt,
        "ugly blurry lowres"
    );
    assert_eq!(e.cell(1, 1, 0).request.prompt, "a cat");
    assert!(e.cells.iter().all(|c| c.request.seed == Some(42)));
}
