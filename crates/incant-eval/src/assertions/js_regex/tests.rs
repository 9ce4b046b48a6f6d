//! Verdicts checked against Node 20 (`new RegExp(p).test(s)`).

use super::JsRegex;

/// (pattern, text, Node's verdict; `None`: Node rejects the pattern).
const CASES: &[(&str, &str, Option<bool>)] = &[
    ("quick(?= brown)", "The quick brown fox", Some(true)),
    ("quick(?! brown)", "The quick brown fox", Some(false)),
    ("(?<=\\$)\\d+", "costs $42", Some(true)),
    ("(?<!\\$)\\b\\d+", "costs $42", Some(false)),
    ("(?i)hello", "Hello", None),
    ("(?i:hello)", "Hello", None),
    ("[", "[", None),
    ("^\\w+ \\w+", "Café naïve", Some(false)),
    ("ße .. ", "straße 😀 pi", Some(true)),
    ("^.$", "😀", Some(false)),
    ("^..$", "😀", Some(true)),
    ("^[^a]{2}$", "😀", Some(true)),
    ("[😀]", "\u{1F601}", Some(true)),
    ("more $", "and more \n", Some(false)),
    ("^Line Two", "line one\nLine Two", Some(false)),
    ("one.Line", "one\nLine", Some(false)),
    ("\\bfox\\b", "brown fox.", Some(true)),
    ("\\bnaïve\\b", "a naïve b", Some(true)),
    ("^\\s+$", "\u{a0}\u{feff}\u{2028}", Some(true)),
    ("^\\s$", "\u{85}", Some(false)),
    ("(a)\\1", "aa", Some(true)),
    ("\\1(a)", "a", Some(true)),
    ("(a)|\\1b", "b", Some(true)),
    ("(?<y>\\d{4})-\\k<y>", "2024-2024", Some(true)),
    ("\\k<y>", "k<y>", Some(true)),
    ("(?<a>x)\\k", "xk", None),
    ("(?<a>x)|(?<a>y)", "x", None),
    ("a{", "a{", Some(true)),
    ("a{1", "a{1", Some(true)),
    ("a{,3}", "a{,3}", Some(true)),
    ("x{2,1}", "xx", None),
    ("{1}", "", None),
    ("]", "]", Some(true)),
    ("}", "}", Some(true)),
    ("a**", "a", None),
    ("^*", "", None),
    ("\\b*", "", None),
    ("(?<=a)*", "", None),
    ("(?=a)*b", "b", Some(true)),
    ("\\8", "8", Some(true)),
    ("\\18", "\u{1}8", Some(true)),
    ("\\400", " 0", Some(true)),
    ("\\0", "\0", Some(true)),
    ("\\c", "\\c", Some(true)),
    ("\\cJ", "\n", Some(true)),
    ("[\\c_]", "\u{1f}", Some(true)),
    ("[\\c*]", "\\", Some(true)),
    ("\\u{3}", "uuu", Some(true)),
    ("\\u0041\\x42", "AB", Some(true)),
    ("\\p{L}", "p{L}", Some(true)),
    ("[\\d-z]", "-", Some(true)),
    ("[b-a]", "a", None),
    ("[\\b]", "\u{8}", Some(true)),
    ("[^]", "\n", Some(true)),
    ("[]", "a", Some(false)),
    ("(a*)*b", "aaab", Some(true)),
    ("(a|ab)(c|bcd)(d*)", "abcd", Some(true)),
    ("(?:a|b)+?c", "ababc", Some(true)),
    ("(z)((a+)?(b+)?(c))*\\3", "zaacbbbcac", Some(true)),
    ("(?=(a+))a*b\\1", "baaabac", Some(true)),
    ("(?<=(\\d+)(\\d+))$", "1053", Some(true)),
    ("(?<=\\1(a))b", "aab", Some(true)),
    ("(", "", None),
    ("a)", "", None),
    ("(?", "", None),
    ("\\", "\\", None),
    ("(?<1a>x)", "", None),
    ("(?<é>x)\\k<é>", "xx", Some(true)),
    ("a{2147483648}", "a", Some(false)),
];

#[test]
fn javascript_semantics() {
    for &(pattern, text, want) in CASES {
        let got = JsRegex::new(pattern).map(|re| re.is_match(text).expect("in budget"));
        assert_eq!(
            got.as_ref().ok().copied(),
            want,
            "/{pattern}/.test({text:?}): {got:?}"
        );
    }
}

#[test]
fn errors_read_like_v8() {
    let e = JsRegex::new("(?i)hello").unwrap_err();
    assert_eq!(e, "Invalid regular expression: /(?i)hello/: Invalid group");
    let e = JsRegex::new("[").unwrap_err();
    assert_eq!(
        e,
        "Invalid regular expression: /[/: Unterminated character class"
    );
}

#[test]
fn catastrophic_backtracking_gives_up() {
    let re = JsRegex::new("^(a+)+$").unwrap();
    let text = format!("{}b", "a".repeat(40));
    let e = re.is_match_within(&text, 1_000_000).unwrap_err();
    assert!(e.contains("too much backtracking"), "{e}");
}

#[test]
fn long_lines_with_greedy_prefixes_finish() {
    // `.*` gives back one unit at a time; lengths the literal cannot follow are skipped
    let line = "a".repeat(8_000);
    assert!(!JsRegex::new(".*x").unwrap().is_match(&line).unwrap());
    assert!(JsRegex::new(".*a$").unwrap().is_match(&line).unwrap());
    assert!(JsRegex::new("(?<=a+?)$").unwrap().is_match(&line).unwrap());
}

#[test]
fn long_inputs_do_not_grow_the_stack() {
    let text = "ab".repeat(200_000);
    assert!(JsRegex::new("^(?:ab)*$").unwrap().is_match(&text).unwrap());
    assert!(JsRegex::new("(.)\\1")
        .unwrap()
        .is_match(&format!("{text}cc"))
        .unwrap());
}
