//! Image metrics for incant: FID, KID and the clean-fid preprocessing that feeds them.
//!
//! - [`features`]: a checked `N x D` feature matrix from any extractor (Inception, CLIP).
//! - [`npy`]: the same matrix read from a NumPy `.npy` file.
//! - [`stats`]: its mean and covariance ([`FeatureStats`], `np.cov` semantics).
//! - [`fid`]: [`frechet_distance`], pytorch-fid's formula in `f64` through symmetric
//!   eigendecompositions (faer).
//! - [`kid`]: [`kernel_inception_distance`], the unbiased cubic-kernel MMD² over seeded subsets.
//! - [`inception`]: pytorch-fid's FID Inception v3 on candle, 2,048-d pool3 features.
//! - [`resize`] and [`preprocess`]: PIL's float bicubic and clean-fid's 299 x 299 recipe.
//! - [`synthetic`]: generated features shared with the reference scripts (tests, benchmarks).

pub mod error;
pub mod features;
pub mod fid;
pub mod inception;
pub mod kid;
mod linalg;
pub mod npy;
pub mod preprocess;
pub mod resize;
pub mod stats;
pub mod synthetic;

pub use error::{MetricsError, Result};
pub use features::Features;
pub use fid::{frechet_distance, Fid, FidWarning};
pub use incant_rng::SplitMix64;
pub use inception::{FidInceptionV3, INCEPTION_DIMS};
pub use kid::{kernel_inception_distance, polynomial_mmd2, Kid, KidOptions};
pub use npy::{parse_npy, read_npy};
pub use preprocess::{clean_fid_resize, inception_input, resize_rgb_float, INCEPTION_SIZE};
pub use resize::resize_bicubic_f32;
pub use stats::{image_features_stats, FeatureStats};
pub use synthetic::{synthetic_features, SyntheticSet};
