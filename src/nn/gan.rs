//! [`Gan`]: a (conditional) GAN trained with the seed's step.
//!
//! One [`train_step`](Gan::train_step) on a batch of `B` real rows:
//!
//! 1. `z ~ N(0, I)` (`B × latent`), `generated = G(z ⊕ c)`;
//! 2. the discriminator sees `concat(generated, real)` (⊕ the classes for a conditional
//!    model) with labels `1` for fake and `0` for real, plus `0.05·U(0, 1)` label noise — fake
//!    targets lie in `[1, 1.05)`, kept as the seed has them, not clipped; the loss is BCE with
//!    logits on D's outputs (mean); Adam updates **D's weights only**;
//! 3. a new `z`, and the generator is trained through the (updated) discriminator with the
//!    "misleading" labels `0` (all real); Adam updates **G's weights only**.
//!
//! For a conditional model the generated rows carry the classes of the batch's real rows.

use std::path::Path;

use ndarray::{s, Array2};

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::nn::activation::Activation;
use crate::nn::adam::{Adam, AdamConfig};
use crate::nn::init::{fill_normal, randn};
use crate::nn::input::{non_finite, Prepared};
use crate::nn::loss::{bce_with_logits, Reduction};
use crate::nn::meta::{output_activation, validate_common, Meta, EVAL_BASE, INIT_STREAM};
use crate::nn::mlp::{cat_into, ensure_shape, Mlp};
use crate::nn::par;
use crate::nn::sampler::{hcat, GanSampler};
use crate::nn::scale::{DataScale, Standardization};
use crate::nn::weights::{self, Architecture, ModelKind, Module, Network};
use crate::rng::{self, purpose, StepRng};

/// Hyper-parameters of a [`Gan`].
///
/// # Example
/// ```
/// use shardmix::nn::{Activation, GanConfig};
/// let c = GanConfig::new(64);
/// assert_eq!((c.latent_dim, c.discriminator_activation), (16, Activation::LeakyRelu(0.2)));
/// assert_eq!((c.generator_adam.lr, c.discriminator_adam.lr), (3e-4, 3e-4));
/// c.validate()?;
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GanConfig {
    /// Features per row (≥ 1).
    pub num_features: usize,
    /// Classes to condition G and D on, `None` for an unconditional GAN (default `None`).
    pub num_classes: Option<usize>,
    /// Latent size (default 16).
    pub latent_dim: usize,
    /// Generator hidden widths (default `[128]`).
    pub generator_hidden: Vec<usize>,
    /// Discriminator hidden widths (default `[128]`).
    pub discriminator_hidden: Vec<usize>,
    /// Generator hidden activation (default ReLU).
    pub generator_activation: Activation,
    /// Discriminator hidden activation (default LeakyReLU(0.2)).
    pub discriminator_activation: Activation,
    /// Data scale (default [`DataScale::Unit`]: sigmoid generator output; `Real`: linear
    /// output on standardised features).
    pub scale: DataScale,
    /// For [`DataScale::Real`]: the standardisation; `None` fits it on the first batch.
    pub standardization: Option<Standardization>,
    /// Generator optimiser (default Adam, lr 3e-4 as the seed).
    pub generator_adam: AdamConfig,
    /// Discriminator optimiser (default Adam, lr 3e-4 as the seed).
    pub discriminator_adam: AdamConfig,
    /// Amplitude of the uniform label noise added to D's targets (default 0.05, the seed's).
    pub label_noise: f32,
    /// Feature column names, recorded in the model file (default `None`).
    pub feature_names: Option<Vec<String>>,
}

impl GanConfig {
    /// The defaults for `num_features` features.
    pub fn new(num_features: usize) -> Self {
        let adam = AdamConfig { lr: 3e-4, ..AdamConfig::default() };
        GanConfig {
            num_features,
            num_classes: None,
            latent_dim: 16,
            generator_hidden: vec![128],
            discriminator_hidden: vec![128],
            generator_activation: Activation::Relu,
            discriminator_activation: Activation::LeakyRelu(0.2),
            scale: DataScale::Unit,
            standardization: None,
            generator_adam: adam,
            discriminator_adam: adam,
            label_noise: 0.05,
            feature_names: None,
        }
    }

    /// Check every hyper-parameter.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the first invalid one.
    pub fn validate(&self) -> Result<()> {
        validate_common(
            "gan",
            (self.num_features, self.num_classes, self.latent_dim),
            &[
                ("gan.generator_hidden", &self.generator_hidden),
                ("gan.discriminator_hidden", &self.discriminator_hidden),
            ],
            &[
                ("gan.generator_activation", self.generator_activation),
                ("gan.discriminator_activation", self.discriminator_activation),
            ],
            self.scale,
            self.standardization.as_ref(),
            self.feature_names.as_deref(),
        )?;
        self.generator_adam.validate("gan.generator_adam")?;
        self.discriminator_adam.validate("gan.discriminator_adam")?;
        if !(self.label_noise.is_finite() && self.label_noise >= 0.0) {
            return Err(Error::config("gan.label_noise", format!("must be finite and >= 0, got {}", self.label_noise)));
        }
        Ok(())
    }
}

/// Losses of one GAN step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GanLosses {
    /// The discriminator's BCE-with-logits on fake + real rows (with label noise).
    pub d_loss: f32,
    /// The generator's BCE-with-logits against the "real" label through D.
    pub g_loss: f32,
}

/// A (conditional) GAN with separate Adam optimisers for G and D.
///
/// # Example
/// ```
/// use shardmix::nn::{Gan, GanConfig};
/// use shardmix::Batch;
/// let mut gan = Gan::new(GanConfig { generator_hidden: vec![8], discriminator_hidden: vec![8], ..GanConfig::new(3) }, 1)?;
/// let batch = Batch::new(0, ndarray::array![[0.1f32, 0.5, 0.9], [0.2, 0.4, 0.8]], None, vec![0, 1])?;
/// let losses = gan.train_step(&batch)?;
/// assert!(losses.d_loss.is_finite() && losses.g_loss.is_finite());
/// assert_eq!(gan.steps(), 1);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Gan {
    meta: Meta,
    generator: Mlp,
    discriminator: Mlp,
    adam_g: Adam,
    adam_d: Adam,
    label_noise: f32,
    seed: u64,
    steps: u64,
    scratch: Scratch,
}

/// D's targets for `b` fake then `b` real rows: `1 + noise·U` then `0 + noise·U`, into
/// `labels` (resized to `2b × 1`).
fn noisy_labels(rng: &mut StepRng, b: usize, noise: f32, labels: &mut Array2<f32>) {
    ensure_shape(labels, 2 * b, 1);
    for (i, v) in labels.iter_mut().enumerate() {
        let base = if i < b { 1.0 } else { 0.0 };
        *v = base + noise * rng::uniform(rng) as f32;
    }
}

/// Buffers of a training step, kept between steps.
#[derive(Debug, Clone, Default)]
struct Scratch {
    z: Array2<f32>,
    g_in: Array2<f32>,
    fake: Array2<f32>,
    d_in: Array2<f32>,
    labels: Array2<f32>,
    zeros: Array2<f32>,
}

impl Gan {
    /// A freshly initialised GAN; weights are drawn from `(seed, MODEL)`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for invalid hyper-parameters.
    pub fn new(config: GanConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let c = config.num_classes.unwrap_or(0);
        let mut rng = rng::derive(seed, purpose::MODEL, INIT_STREAM);
        let mut g_sizes = vec![config.latent_dim + c];
        g_sizes.extend(&config.generator_hidden);
        g_sizes.push(config.num_features);
        let out = output_activation(config.scale);
        let generator = Mlp::new(&g_sizes, config.generator_activation, out, &mut rng)?;
        let mut d_sizes = vec![config.num_features + c];
        d_sizes.extend(&config.discriminator_hidden);
        d_sizes.push(1);
        let discriminator = Mlp::new(&d_sizes, config.discriminator_activation, Activation::Identity, &mut rng)?;
        let dims = (config.num_features, config.num_classes, config.latent_dim);
        Ok(Gan {
            meta: Meta::new(ModelKind::Gan, dims, config.scale, config.standardization, config.feature_names),
            generator,
            discriminator,
            adam_g: Adam::new(config.generator_adam)?,
            adam_d: Adam::new(config.discriminator_adam)?,
            label_noise: config.label_noise,
            seed,
            steps: 0,
            scratch: Scratch::default(),
        })
    }

    /// Load a GAN saved with [`save`](Gan::save) (or exported from PyTorch), with fresh Adam
    /// optimisers (lr 3e-4), label noise 0.05 and seed 0; change them with
    /// [`with_training`](Gan::with_training).
    ///
    /// # Errors
    /// An I/O error or [`ErrorKind::Model`](crate::ErrorKind::Model) naming what does not fit.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let (arch, tensors) = weights::load(path.as_ref())?;
        Self::from_file(arch, tensors)
    }

    pub(crate) fn from_file(arch: Architecture, tensors: weights::Tensors) -> Result<Self> {
        let names = ["generator", "discriminator"];
        let (meta, [generator, discriminator]) = Meta::from_file(ModelKind::Gan, arch, tensors, names)?;
        let defaults = GanConfig::new(meta.num_features);
        Ok(Gan {
            meta,
            generator,
            discriminator,
            adam_g: Adam::new(defaults.generator_adam)?,
            adam_d: Adam::new(defaults.discriminator_adam)?,
            label_noise: defaults.label_noise,
            seed: 0,
            steps: 0,
            scratch: Scratch::default(),
        })
    }

    /// Reset both optimisers and the training randomness (the step counter restarts at 0).
    ///
    /// # Errors
    /// When an Adam config is invalid.
    pub fn with_training(
        mut self,
        seed: u64,
        generator_adam: AdamConfig,
        discriminator_adam: AdamConfig,
    ) -> Result<Self> {
        generator_adam.validate("gan.generator_adam")?;
        discriminator_adam.validate("gan.discriminator_adam")?;
        self.adam_g = Adam::new(generator_adam)?;
        self.adam_d = Adam::new(discriminator_adam)?;
        self.seed = seed;
        self.steps = 0;
        Ok(self)
    }

    /// Features per row.
    pub fn num_features(&self) -> usize {
        self.meta.num_features
    }

    /// Classes conditioned on.
    pub fn num_classes(&self) -> Option<usize> {
        self.meta.num_classes
    }

    /// Latent size.
    pub fn latent_dim(&self) -> usize {
        self.meta.latent_dim
    }

    /// Training steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The most multiply-adds per row of any one layer of G or D.
    fn max_layer_macs(&self) -> usize {
        self.generator.max_layer_macs().max(self.discriminator.max_layer_macs())
    }

    /// The generator network.
    pub fn generator(&self) -> &Mlp {
        &self.generator
    }

    /// The discriminator network.
    pub fn discriminator(&self) -> &Mlp {
        &self.discriminator
    }

    /// One discriminator step then one generator step (see [`Gan`]), with
    /// noise from `(seed, MODEL, steps())`.
    ///
    /// # Errors
    /// A shape error when the batch does not fit; a model error for bad values or a
    /// non-finite loss, naming the step (a non-finite D loss leaves both networks unchanged;
    /// a non-finite G loss leaves G unchanged).
    pub fn train_step(&mut self, batch: &Batch) -> Result<GanLosses> {
        let p = self.meta.prepare_train(batch)?;
        // D sees 2B rows.
        par::in_pool(2 * p.x.nrows(), self.max_layer_macs(), || self.step_on(&p))
    }

    /// The discriminator step then the generator step on a prepared batch.
    fn step_on(&mut self, p: &Prepared) -> Result<GanLosses> {
        let step = self.steps;
        let mut rng = rng::derive(self.seed, purpose::MODEL, step);
        let b = p.x.nrows();
        let f = self.meta.num_features;
        let cond = p.cond.as_ref().map(|c| c.view());
        let s = &mut self.scratch;

        // Discriminator step on concat(generated, real) (⊕ the classes, twice).
        ensure_shape(&mut s.z, b, self.meta.latent_dim);
        fill_normal(&mut rng, &mut s.z);
        ensure_shape(&mut s.fake, b, f);
        cat_into(&mut s.g_in, s.z.view(), cond);
        self.generator.forward_into(s.g_in.view(), s.fake.view_mut());
        ensure_shape(&mut s.d_in, 2 * b, self.discriminator.inputs());
        s.d_in.slice_mut(s![..b, ..f]).assign(&s.fake);
        s.d_in.slice_mut(s![b.., ..f]).assign(&p.x);
        if let Some(c) = cond {
            s.d_in.slice_mut(s![..b, f..]).assign(&c);
            s.d_in.slice_mut(s![b.., f..]).assign(&c);
        }
        noisy_labels(&mut rng, b, self.label_noise, &mut s.labels);
        let logits = self.discriminator.forward_train(s.d_in.view());
        let d = bce_with_logits(logits.view(), s.labels.view(), Reduction::Mean)?;
        if !d.loss.is_finite() {
            return Err(non_finite("GAN", step, format!("discriminator loss {}", d.loss)));
        }
        self.discriminator.backward(d.grad.view(), true, false);
        self.adam_d.step(self.discriminator.params());

        // Generator step through D with the "misleading" label 0 (real).
        fill_normal(&mut rng, &mut s.z);
        let generated = self.generator.forward_train_cat(s.z.view(), cond);
        let logits = self.discriminator.forward_train_cat(generated.view(), cond);
        ensure_shape(&mut s.zeros, b, 1);
        let g = bce_with_logits(logits.view(), s.zeros.view(), Reduction::Mean)?;
        if !g.loss.is_finite() {
            return Err(non_finite("GAN", step, format!("generator loss {}", g.loss)));
        }
        let Some(g_d_in) = self.discriminator.backward(g.grad.view(), false, true) else {
            unreachable!("input gradient was requested")
        };
        self.generator.backward(g_d_in.slice(s![.., ..f]), true, false);
        self.adam_g.step(self.generator.params());
        self.steps += 1;
        Ok(GanLosses { d_loss: d.loss, g_loss: g.loss })
    }

    /// Both losses on `batch` without training, with clean labels (no label noise) and noise
    /// from `(seed, MODEL, 2⁶³ | batch.step)`.
    ///
    /// # Errors
    /// As [`train_step`](Gan::train_step); a model error for a `real` model without
    /// standardisation.
    pub fn eval_loss(&self, batch: &Batch) -> Result<GanLosses> {
        let p = self.meta.prepare_eval(batch)?;
        par::in_pool(p.x.nrows(), self.max_layer_macs(), || self.eval_on(&p, batch.step))
    }

    fn eval_on(&self, p: &Prepared, step: u64) -> Result<GanLosses> {
        let mut rng = rng::derive(self.seed, purpose::MODEL, EVAL_BASE | step);
        let b = p.x.nrows();
        let cond = p.cond.as_ref().map(|c| c.view());
        let generated = self.generator.forward(hcat(randn(&mut rng, b, self.meta.latent_dim).view(), cond).view());
        let fake = self.discriminator.forward(hcat(generated.view(), cond).view());
        let real = self.discriminator.forward(hcat(p.x.view(), cond).view());
        let ones = Array2::ones((b, 1));
        let zeros = Array2::zeros((b, 1));
        let d_fake = bce_with_logits(fake.view(), ones.view(), Reduction::Mean)?.loss;
        let d_real = bce_with_logits(real.view(), zeros.view(), Reduction::Mean)?.loss;
        let g_loss = bce_with_logits(fake.view(), zeros.view(), Reduction::Mean)?.loss;
        Ok(GanLosses { d_loss: 0.5 * (d_fake + d_real), g_loss })
    }

    /// The file's architecture description.
    pub fn architecture(&self) -> Architecture {
        self.meta.architecture(vec![
            Network::of("generator", Module::Sequential, &self.generator),
            Network::of("discriminator", Module::Sequential, &self.discriminator),
        ])
    }

    /// Save G and D with the architecture to `path` (temporary file, then rename).
    ///
    /// # Errors
    /// An I/O error; a model error for a `real` model without standardisation.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        weights::save(path.as_ref(), &self.architecture(), &[self.generator.layers(), self.discriminator.layers()])
    }

    /// An inference snapshot of the generator, to share across threads.
    pub fn sampler(&self) -> GanSampler {
        let (info, generator) = self.meta.sampler_parts(&self.generator);
        GanSampler::from_parts(info, generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::loss::bce_with_logits;
    use crate::ErrorKind;

    fn batch(rows: usize, f: usize) -> Batch {
        let x = Array2::from_shape_fn((rows, f), |(i, j)| ((i + 2 * j) % 5) as f32 / 4.0);
        Batch::new(0, x, None, (0..rows as u64).collect()).unwrap()
    }

    /// The generator's gradient through a frozen discriminator, against finite differences
    /// of the G loss with fixed noise.
    #[test]
    fn generator_gradient_through_discriminator() {
        let cfg = GanConfig {
            generator_hidden: vec![5],
            discriminator_hidden: vec![4],
            generator_activation: Activation::Tanh,
            latent_dim: 3,
            num_classes: Some(2),
            ..GanConfig::new(3)
        };
        let gan = Gan::new(cfg, 2).unwrap();
        let z = randn(&mut rng::derive(1, 1, 1), 4, 3);
        let c = Array2::from_shape_fn((4, 2), |(i, j)| if i % 2 == j { 1.0 } else { 0.0 });
        let g_loss = |g: &Mlp| -> f64 {
            let gen = g.forward(hcat(z.view(), Some(c.view())).view());
            let logits = gan.discriminator.forward(hcat(gen.view(), Some(c.view())).view());
            bce_with_logits(logits.view(), Array2::zeros((4, 1)).view(), Reduction::Mean).unwrap().loss as f64
        };
        let mut g = gan.generator.clone();
        let mut d = gan.discriminator.clone();
        let gen = g.forward_train(hcat(z.view(), Some(c.view())).view()).clone();
        let logits = d.forward_train(hcat(gen.view(), Some(c.view())).view()).clone();
        let loss = bce_with_logits(logits.view(), Array2::zeros((4, 1)).view(), Reduction::Mean).unwrap();
        let gd = d.backward(loss.grad.view(), false, true).unwrap().slice(s![.., ..3]).to_owned();
        g.backward(gd.view(), true, false);
        let h = 1e-2f32;
        for l in 0..2 {
            let an = g.layers()[l].grad_weight.clone();
            for (o, i) in [(0, 0), (1, 2), (2, 1)] {
                let mut p = gan.generator.clone();
                p.layers_mut()[l].weight[[o, i]] += h;
                let mut m = gan.generator.clone();
                m.layers_mut()[l].weight[[o, i]] -= h;
                let fd = (g_loss(&p) - g_loss(&m)) / (2.0 * h as f64);
                let a = an[[o, i]] as f64;
                assert!((fd - a).abs() < 2e-2 * (1.0 + a.abs()), "layer {l} [{o},{i}]: {fd} vs {a}");
            }
        }
        // D's parameter gradients were not touched by the G pass.
        assert!(d.layers()[0].grad_weight.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn d_step_only_moves_d_and_g_step_only_moves_g() {
        let mut gan =
            Gan::new(GanConfig { generator_hidden: vec![8], discriminator_hidden: vec![8], ..GanConfig::new(4) }, 5)
                .unwrap();
        let g0 = gan.generator.layers().to_vec();
        let d0 = gan.discriminator.layers().to_vec();
        let mut frozen_g = gan.clone();
        frozen_g.adam_g = Adam::new(AdamConfig { lr: 1e-30, ..Default::default() }).unwrap();
        frozen_g.train_step(&batch(8, 4)).unwrap();
        assert_ne!(frozen_g.discriminator.layers()[0].weight, d0[0].weight);
        for (a, b) in frozen_g.generator.layers().iter().zip(&g0) {
            assert!((&a.weight - &b.weight).iter().all(|v| v.abs() < 1e-20));
        }
        gan.train_step(&batch(8, 4)).unwrap();
        assert_ne!(gan.generator.layers()[0].weight, g0[0].weight);
    }

    #[test]
    fn noisy_fake_labels_stay_above_one() {
        let mut labels = Array2::zeros((0, 0));
        noisy_labels(&mut rng::derive(9, purpose::MODEL, 0), 200, 0.05, &mut labels);
        let (fake, real) = labels.as_slice().unwrap().split_at(200);
        assert!(fake.iter().all(|&v| (1.0..1.05).contains(&v)));
        assert!(real.iter().all(|&v| (0.0..0.05).contains(&v)));
        // Not clipped: most fake targets exceed 1, spread over the whole range.
        assert!(fake.iter().filter(|&&v| v > 1.0).count() > 190);
        assert!(fake.iter().any(|&v| v > 1.045));
    }

    #[test]
    fn invalid_configs() {
        for cfg in [
            GanConfig { label_noise: -0.1, ..GanConfig::new(3) },
            GanConfig { generator_hidden: vec![], ..GanConfig::new(3) },
            GanConfig { discriminator_activation: Activation::LeakyRelu(f32::NAN), ..GanConfig::new(3) },
            GanConfig { discriminator_adam: AdamConfig { lr: 0.0, ..Default::default() }, ..GanConfig::new(3) },
        ] {
            assert!(matches!(Gan::new(cfg, 0).unwrap_err().kind(), ErrorKind::Config { .. }));
        }
    }
}
