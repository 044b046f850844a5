//! Small neural networks for generative augmentation: a (conditional) [`Vae`] and [`Gan`]
//! trained batch by batch, their inference snapshots ([`VaeSampler`], [`GanSampler`]) that
//! implement [`Generator`](crate::Generator), a [`Classifier`] for evaluation, and the
//! building blocks ([`Linear`], [`Activation`], [`Mlp`], losses, [`Adam`]).
//!
//! Everything is `f32` on row-major [`ndarray`] matrices; forward and backward passes are
//! batched matrix products (`x·Wᵀ`, `gᵀ·x`, `g·W`), never loops over samples. Randomness
//! comes from [`rng::derive`](crate::rng::derive)`(seed, MODEL, stream)`: weight
//! initialisation on one stream, training step `k` on stream `k`, so a seed fixes the
//! trained weights bit for bit.
//!
//! Threads: a matrix product or an inference pass large enough to be worth it (each half at
//! least 2²⁰ multiply-adds: generating thousands of rows, or training on batches of ~1,000
//! rows and more) is split by rows across rayon's pool (`RAYON_NUM_THREADS`, or the pool a
//! caller runs in); the results are bit-identical for any thread count. Batches of 128–256
//! rows of the default sizes stay on the calling thread: on the 2-core machine measured, a
//! second thread did not pay at that size.
//!
//! Models are saved as safetensors with PyTorch `nn.Sequential` tensor names; see
//! [`weights`] for the exact layout and the equivalent PyTorch classes.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use shardmix::nn::{AdamConfig, Vae, VaeConfig};
//! use shardmix::{Batch, Generator};
//! // A conditional VAE on 4 features in [0, 1] with 2 classes.
//! let adam = AdamConfig { lr: 1e-2, ..AdamConfig::default() };
//! let config = VaeConfig { num_classes: Some(2), hidden: vec![16], latent_dim: 2, adam, ..VaeConfig::new(4) };
//! let mut vae = Vae::new(config, 42)?;
//! let x = ndarray::array![[1.0f32, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]];
//! let y = ndarray::array![[1.0f32, 0.0], [0.0, 1.0]];
//! let batch = Batch::new(0, x, Some(y), vec![0, 1])?;
//! for _ in 0..300 {
//!     vae.train_step(&batch)?;
//! }
//! let sampler: Arc<dyn Generator> = Arc::new(vae.sampler());
//! // 100 rows of class 0, then 100 of class 1.
//! let classes: Vec<usize> = (0..200).map(|i| i / 100).collect();
//! let rows = sampler.generate(Some(&classes), 200, &mut shardmix::rng::derive(1, 2, 3))?;
//! let mean = |r: std::ops::Range<usize>, c: usize| rows.slice(ndarray::s![r, c]).mean().unwrap_or(0.0);
//! assert!(mean(0..100, 0) > mean(0..100, 3) + 0.3);
//! assert!(mean(100..200, 3) > mean(100..200, 0) + 0.3);
//! # Ok::<(), shardmix::Error>(())
//! ```

mod activation;
mod adam;
mod classifier;
mod gan;
mod init;
mod input;
mod linear;
mod loss;
mod meta;
mod mlp;
mod par;
pub mod quality;
mod sampler;
mod scale;
pub mod train;
mod vae;
mod vmath;
pub mod weights;

pub use activation::{sigmoid, Activation};
pub use adam::{Adam, AdamConfig, Param};
pub use classifier::{Classifier, ClassifierConfig};
pub use gan::{Gan, GanConfig, GanLosses};
pub use init::{standard_normal, Init};
pub use linear::Linear;
pub use loss::{bce, bce_with_logits, gaussian_kl, mse, softmax_cross_entropy, KlGrad, LossGrad, Reduction, BCE_EPS};
pub use mlp::Mlp;
pub use sampler::{load_generator, GanSampler, VaeSampler};
pub use scale::{DataScale, Standardization};
pub use vae::{Vae, VaeConfig, VaeLosses};
pub use weights::{read_architecture, Architecture, ModelKind, Module, Network};
