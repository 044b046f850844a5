//! [`Vae`]: a (conditional) variational auto-encoder trained batch by batch, as in the seed.
//!
//! ```text
//! x ⊕ c ──encoder──► h ──fc_mu──► μ          z = μ + exp(½·logσ²)·ε,  ε ~ N(0, I)
//!                      └─fc_logvar─► logσ²   z ⊕ c ──decoder──► x̂
//! loss = mean_rows Σ_features BCE(x, x̂)  +  mean_rows Σ_latent −½(1 + logσ² − μ² − e^{logσ²})
//! ```
//!
//! `c` is the row's class target (one-hot or soft) for a conditional model. For real-valued
//! data ([`DataScale::Real`]) the features are standardised and the reconstruction term is
//! `mean_rows Σ_features ½(x − x̂)²` (a unit-variance Gaussian) with a linear decoder output.

use std::path::Path;

use ndarray::{s, Array2, ArrayView2, Zip};

use crate::batch::Batch;
use crate::error::Result;
use crate::nn::activation::Activation;
use crate::nn::adam::{Adam, AdamConfig};
use crate::nn::init::{fill_normal, randn};
use crate::nn::input::{non_finite, Prepared};
use crate::nn::linear::Linear;
use crate::nn::loss::{bce, gaussian_kl, mse, LossGrad, Reduction, BCE_EPS};
use crate::nn::meta::{output_activation, validate_common, Meta, EVAL_BASE, INIT_STREAM};
use crate::nn::mlp::{ensure_shape, init_for, Mlp};
use crate::nn::par;
use crate::nn::sampler::{hcat, VaeSampler};
use crate::nn::scale::{DataScale, Standardization};
use crate::nn::vmath;
use crate::nn::weights::{self, Architecture, ModelKind, Module, Network};
use crate::rng::{self, purpose, StepRng};

/// Hyper-parameters of a [`Vae`].
///
/// # Example
/// ```
/// use shardmix::nn::VaeConfig;
/// let config = VaeConfig { num_classes: Some(10), ..VaeConfig::new(64) };
/// assert_eq!((config.hidden.as_slice(), config.latent_dim), (&[128][..], 16));
/// config.validate()?;
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct VaeConfig {
    /// Features per row (≥ 1).
    pub num_features: usize,
    /// Classes to condition on (a CVAE), `None` for an unconditional VAE (default `None`).
    pub num_classes: Option<usize>,
    /// Encoder hidden widths; the decoder uses them reversed (default `[128]`).
    pub hidden: Vec<usize>,
    /// Latent size (default 16).
    pub latent_dim: usize,
    /// Hidden activation (default ReLU).
    pub activation: Activation,
    /// Data scale (default [`DataScale::Unit`]: data in `[0, 1]`, BCE, sigmoid output).
    pub scale: DataScale,
    /// For [`DataScale::Real`]: the standardisation; `None` fits it on the first training
    /// batch (better: fit it on a sample of the data with [`Standardization::fit`]).
    pub standardization: Option<Standardization>,
    /// The optimiser (default: PyTorch's Adam, lr 1e-3).
    pub adam: AdamConfig,
    /// Feature column names, recorded in the model file (default `None`).
    pub feature_names: Option<Vec<String>>,
}

impl VaeConfig {
    /// The defaults for `num_features` features.
    pub fn new(num_features: usize) -> Self {
        VaeConfig {
            num_features,
            num_classes: None,
            hidden: vec![128],
            latent_dim: 16,
            activation: Activation::Relu,
            scale: DataScale::Unit,
            standardization: None,
            adam: AdamConfig::default(),
            feature_names: None,
        }
    }

    /// Check every hyper-parameter.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the first invalid one.
    pub fn validate(&self) -> Result<()> {
        validate_common(
            "vae",
            (self.num_features, self.num_classes, self.latent_dim),
            &[("vae.hidden", &self.hidden)],
            &[("vae.activation", self.activation)],
            self.scale,
            self.standardization.as_ref(),
            self.feature_names.as_deref(),
        )?;
        self.adam.validate("vae.adam")
    }
}

/// The reconstruction term and its gradient: BCE for `unit` data, `½·Σ(x − x̂)²` for `real`.
fn reconstruction(scale: DataScale, recon: &Array2<f32>, x: ArrayView2<f32>) -> Result<LossGrad> {
    Ok(match scale {
        DataScale::Unit => bce(recon.view(), x.view(), BCE_EPS, Reduction::RowSum)?,
        DataScale::Real => {
            let mut r = mse(recon.view(), x.view(), Reduction::RowSum)?;
            r.loss *= 0.5;
            r.grad *= 0.5;
            r
        }
    })
}

/// Losses of one VAE step (means over the batch's rows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaeLosses {
    /// `reconstruction + kl`: the negative ELBO.
    pub total: f32,
    /// Reconstruction term (BCE or Gaussian), summed over features.
    pub reconstruction: f32,
    /// KL term, summed over latent dimensions.
    pub kl: f32,
}

/// A (conditional) VAE with its optimiser state.
///
/// # Example
/// ```
/// use shardmix::nn::{Vae, VaeConfig};
/// use shardmix::{Batch, Generator};
/// let mut vae = Vae::new(VaeConfig { hidden: vec![16], latent_dim: 2, ..VaeConfig::new(4) }, 7)?;
/// let x = ndarray::array![[0.0f32, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]];
/// let batch = Batch::new(0, x, None, vec![0, 1])?;
/// let first = vae.train_step(&batch)?;
/// for _ in 0..200 { vae.train_step(&batch)?; }
/// assert!(vae.eval_loss(&batch)?.total < first.total);
/// let rows = vae.sampler().generate(None, 3, &mut shardmix::rng::derive(0, 0, 0))?;
/// assert_eq!(rows.dim(), (3, 4));
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Vae {
    meta: Meta,
    encoder: Mlp,
    fc_mu: Linear,
    fc_logvar: Linear,
    decoder: Mlp,
    adam: Adam,
    seed: u64,
    steps: u64,
    scratch: Scratch,
}

/// Buffers of a training step, kept between steps (reallocated only when the batch size
/// changes).
#[derive(Debug, Clone, Default)]
struct Scratch {
    mu: Array2<f32>,
    logvar: Array2<f32>,
    eps: Array2<f32>,
    sd: Array2<f32>,
    z: Array2<f32>,
    g_h: Array2<f32>,
    g_h2: Array2<f32>,
}

impl Vae {
    /// A freshly initialised VAE; weights are drawn from `(seed, MODEL)`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for invalid hyper-parameters.
    pub fn new(config: VaeConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let c = config.num_classes.unwrap_or(0);
        let mut rng = rng::derive(seed, purpose::MODEL, INIT_STREAM);
        let mut enc_sizes = vec![config.num_features + c];
        enc_sizes.extend(&config.hidden);
        let encoder = Mlp::new(&enc_sizes, config.activation, config.activation, &mut rng)?;
        let h = config.hidden[config.hidden.len() - 1];
        let head = |rng: &mut StepRng| Linear::new(h, config.latent_dim, init_for(Activation::Identity), rng);
        let fc_mu = head(&mut rng);
        let fc_logvar = head(&mut rng);
        let mut dec_sizes = vec![config.latent_dim + c];
        dec_sizes.extend(config.hidden.iter().rev());
        dec_sizes.push(config.num_features);
        let decoder = Mlp::new(&dec_sizes, config.activation, output_activation(config.scale), &mut rng)?;
        let dims = (config.num_features, config.num_classes, config.latent_dim);
        let meta = Meta::new(ModelKind::Vae, dims, config.scale, config.standardization, config.feature_names);
        Ok(Vae {
            meta,
            encoder,
            fc_mu,
            fc_logvar,
            decoder,
            adam: Adam::new(config.adam)?,
            seed,
            steps: 0,
            scratch: Scratch::default(),
        })
    }

    /// Load a VAE saved with [`save`](Vae::save) (or exported from PyTorch, see
    /// [`weights`](crate::nn::weights)), with a fresh Adam (PyTorch defaults) and seed 0;
    /// change them with [`with_training`](Vae::with_training).
    ///
    /// # Errors
    /// An I/O error or [`ErrorKind::Model`](crate::ErrorKind::Model) naming what does not fit.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let (arch, tensors) = weights::load(path.as_ref())?;
        Self::from_file(arch, tensors)
    }

    pub(crate) fn from_file(arch: Architecture, tensors: weights::Tensors) -> Result<Self> {
        let names = ["encoder", "fc_mu", "fc_logvar", "decoder"];
        let (meta, [encoder, fc_mu, fc_logvar, decoder]) = Meta::from_file(ModelKind::Vae, arch, tensors, names)?;
        Ok(Vae {
            meta,
            encoder,
            fc_mu: fc_mu.layers()[0].clone(),
            fc_logvar: fc_logvar.layers()[0].clone(),
            decoder,
            adam: Adam::new(AdamConfig::default())?,
            seed: 0,
            steps: 0,
            scratch: Scratch::default(),
        })
    }

    /// Reset the optimiser with `adam` and the training randomness with `seed` (the step
    /// counter restarts at 0).
    ///
    /// # Errors
    /// When `adam` is invalid.
    pub fn with_training(mut self, seed: u64, adam: AdamConfig) -> Result<Self> {
        adam.validate("vae.adam")?;
        self.adam = Adam::new(adam)?;
        self.seed = seed;
        self.steps = 0;
        Ok(self)
    }

    /// Set the standardisation of a [`DataScale::Real`] model.
    ///
    /// # Errors
    /// A config error for a `unit` model or a wrong feature count.
    pub fn set_standardization(&mut self, s: Standardization) -> Result<()> {
        self.meta.set_standardization(s)
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

    /// The standardisation in force (`real` scale).
    pub fn standardization(&self) -> Option<&Standardization> {
        self.meta.standardization.as_ref()
    }

    /// One Adam step on all weights from `batch` (rows × features; with targets of
    /// `num_classes` columns for a conditional model). The reparameterisation noise comes
    /// from `(seed, MODEL, steps())`, so training is deterministic for a seed.
    ///
    /// # Errors
    /// A shape error when the batch does not fit the model (features, targets); a model
    /// error for non-finite or out-of-range (`unit` scale) values, or when the loss is not
    /// finite (naming the step; the weights are then left unchanged).
    pub fn train_step(&mut self, batch: &Batch) -> Result<VaeLosses> {
        let p = self.meta.prepare_train(batch)?;
        par::in_pool(p.x.nrows(), self.max_layer_macs(), || self.step_on(&p))
    }

    /// Forward, backward and the Adam update on a prepared batch.
    fn step_on(&mut self, p: &Prepared) -> Result<VaeLosses> {
        let step = self.steps;
        let mut rng = rng::derive(self.seed, purpose::MODEL, step);
        let l = self.meta.latent_dim;
        let cond = p.cond.as_ref().map(|c| c.view());
        let s = &mut self.scratch;

        // Forward.
        let h = self.encoder.forward_train_cat(p.x.view(), cond);
        let rows = h.nrows();
        for buf in [&mut s.mu, &mut s.logvar, &mut s.eps, &mut s.sd, &mut s.z] {
            ensure_shape(buf, rows, l);
        }
        self.fc_mu.forward_into(h.view(), s.mu.view_mut());
        self.fc_logvar.forward_into(h.view(), s.logvar.view_mut());
        fill_normal(&mut rng, &mut s.eps);
        Zip::from(&mut s.sd).and(&mut s.z).and(&s.mu).and(&s.logvar).and(&s.eps).for_each(|sd, z, &m, &lv, &e| {
            *sd = vmath::exp(0.5 * lv);
            *z = m + *sd * e;
        });
        let recon = self.decoder.forward_train_cat(s.z.view(), cond);
        let rec = reconstruction(self.meta.scale, recon, p.x.view())?;
        let kl = gaussian_kl(s.mu.view(), s.logvar.view())?;
        let losses = VaeLosses { total: rec.loss + kl.loss, reconstruction: rec.loss, kl: kl.loss };
        if !losses.total.is_finite() {
            return Err(non_finite("VAE", step, format!("reconstruction {}, KL {}", rec.loss, kl.loss)));
        }

        // Backward: ∂z from the decoder, then μ and logσ² (through z and the KL term).
        let Some(g_dec_in) = self.decoder.backward(rec.grad.view(), true, true) else {
            unreachable!("input gradient was requested")
        };
        let g_z = g_dec_in.slice(s![.., ..l]);
        let (mut g_mu, mut g_lv) = (kl.grad_mu, kl.grad_logvar);
        Zip::from(&mut g_mu).and(&mut g_lv).and(&g_z).and(&s.eps).and(&s.sd).for_each(|gm, gl, &gz, &e, &sd| {
            *gm += gz;
            *gl += gz * e * 0.5 * sd;
        });
        let h = self.encoder.output();
        ensure_shape(&mut s.g_h, rows, h.ncols());
        ensure_shape(&mut s.g_h2, rows, h.ncols());
        self.fc_mu.backward(h.view(), g_mu.view(), true, Some(s.g_h.view_mut()));
        self.fc_logvar.backward(h.view(), g_lv.view(), true, Some(s.g_h2.view_mut()));
        s.g_h += &s.g_h2;
        self.encoder.backward(s.g_h.view(), true, false);
        self.adam.step(
            self.encoder
                .params()
                .chain(self.fc_mu.params())
                .chain(self.fc_logvar.params())
                .chain(self.decoder.params()),
        );
        self.steps += 1;
        Ok(losses)
    }

    /// The losses on `batch` without training (the negative ELBO of held-out data, with a
    /// single noise draw from `(seed, MODEL, 2⁶³ | batch.step)`).
    ///
    /// # Errors
    /// As [`train_step`](Vae::train_step); also a model error for a `real` model that has
    /// no standardisation yet.
    pub fn eval_loss(&self, batch: &Batch) -> Result<VaeLosses> {
        let p = self.meta.prepare_eval(batch)?;
        par::in_pool(p.x.nrows(), self.max_layer_macs(), || self.eval_on(&p, batch.step))
    }

    fn eval_on(&self, p: &Prepared, step: u64) -> Result<VaeLosses> {
        let mut rng = rng::derive(self.seed, purpose::MODEL, EVAL_BASE | step);
        let cond = p.cond.as_ref().map(|c| c.view());
        let h = self.encoder.forward(hcat(p.x.view(), cond).view());
        let mu = self.fc_mu.forward(h.view());
        let logvar = self.fc_logvar.forward(h.view());
        let mut z = randn(&mut rng, mu.nrows(), mu.ncols());
        Zip::from(&mut z).and(&mu).and(&logvar).for_each(|z, &m, &lv| *z = m + vmath::exp(0.5 * lv) * *z);
        let recon = self.decoder.forward(hcat(z.view(), cond).view());
        let rec = reconstruction(self.meta.scale, &recon, p.x.view())?;
        let kl = gaussian_kl(mu.view(), logvar.view())?;
        Ok(VaeLosses { total: rec.loss + kl.loss, reconstruction: rec.loss, kl: kl.loss })
    }

    /// The file's architecture description.
    pub fn architecture(&self) -> Architecture {
        let head = |name: &str, l: &Linear| Network {
            name: name.into(),
            module: Module::Linear,
            sizes: vec![l.inputs(), l.outputs()],
            activations: vec![Activation::Identity],
        };
        self.meta.architecture(vec![
            Network::of("encoder", Module::Sequential, &self.encoder),
            head("fc_mu", &self.fc_mu),
            head("fc_logvar", &self.fc_logvar),
            Network::of("decoder", Module::Sequential, &self.decoder),
        ])
    }

    /// Save the weights and architecture to `path` (safetensors; written to a temporary
    /// file, then renamed).
    ///
    /// # Errors
    /// An I/O error; a model error for a `real` model without standardisation.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        weights::save(
            path.as_ref(),
            &self.architecture(),
            &[
                self.encoder.layers(),
                std::slice::from_ref(&self.fc_mu),
                std::slice::from_ref(&self.fc_logvar),
                self.decoder.layers(),
            ],
        )
    }

    /// An inference snapshot of the decoder, to share across threads.
    pub fn sampler(&self) -> VaeSampler {
        let (info, decoder) = self.meta.sampler_parts(&self.decoder);
        VaeSampler::from_parts(info, decoder)
    }

    /// The most multiply-adds per row of any one layer (what decides whether a step's
    /// products are split across threads).
    fn max_layer_macs(&self) -> usize {
        let heads = self.fc_mu.inputs() * self.fc_mu.outputs();
        self.encoder.max_layer_macs().max(self.decoder.max_layer_macs()).max(heads)
    }

    /// The decoder network (for inspection).
    pub fn decoder(&self) -> &Mlp {
        &self.decoder
    }

    /// The encoder's hidden stack (for inspection).
    pub fn encoder(&self) -> &Mlp {
        &self.encoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::Generator;

    fn unit_batch(rows: usize, f: usize, step: u64) -> Batch {
        let x = Array2::from_shape_fn((rows, f), |(i, j)| ((i * 7 + j * 3) % 10) as f32 / 9.0);
        Batch::new(step, x, None, (0..rows as u64).collect()).unwrap()
    }

    /// The analytic gradient of the whole VAE loss (with fixed ε) against finite
    /// differences, on a few weights of every tensor.
    #[test]
    fn full_gradient_matches_finite_differences() {
        for scale in [DataScale::Unit, DataScale::Real] {
            let cfg = VaeConfig {
                hidden: vec![5],
                latent_dim: 3,
                activation: Activation::Tanh,
                scale,
                num_classes: Some(2),
                ..VaeConfig::new(4)
            };
            let vae = Vae::new(cfg, 3).unwrap();
            let mut b = unit_batch(6, 4, 0);
            b.targets = Some(Array2::from_shape_fn((6, 2), |(i, j)| if i % 2 == j { 1.0 } else { 0.0 }));
            // Loss with the same ε as train_step (step 0).
            let loss = |v: &Vae| -> f64 {
                let mut v = v.clone();
                v.adam = Adam::new(AdamConfig { lr: 1e-30, ..Default::default() }).unwrap();
                v.train_step(&b).unwrap().total as f64
            };
            let mut trained = vae.clone();
            // Capture gradients: run a step with a tiny lr and read the grads.
            trained.adam = Adam::new(AdamConfig { lr: 1e-30, ..Default::default() }).unwrap();
            trained.train_step(&b).unwrap();
            let h = 1e-2f32;
            let mut checked = 0;
            type Pick = fn(&mut Vae) -> &mut Linear;
            let picks: [(&str, Pick); 4] = [
                ("encoder.0", |v| &mut v.encoder.layers_mut()[0]),
                ("fc_mu", |v| &mut v.fc_mu),
                ("fc_logvar", |v| &mut v.fc_logvar),
                ("decoder.2", |v| &mut v.decoder.layers_mut()[1]),
            ];
            for (name, pick) in picks {
                let an = pick(&mut trained).grad_weight.clone();
                for idx in [0usize, 3, 7] {
                    let (o, i) = (idx % an.nrows(), idx % an.ncols());
                    let mut p = vae.clone();
                    pick(&mut p).weight[[o, i]] += h;
                    let mut m = vae.clone();
                    pick(&mut m).weight[[o, i]] -= h;
                    let fd = (loss(&p) - loss(&m)) / (2.0 * h as f64);
                    let a = an[[o, i]] as f64;
                    assert!((fd - a).abs() < 2e-2 * (1.0 + a.abs()), "{scale:?} {name}[{o},{i}]: fd {fd} vs {a}");
                    checked += 1;
                }
            }
            assert_eq!(checked, 12);
        }
    }

    #[test]
    fn loss_decreases_and_is_deterministic() {
        let cfg = VaeConfig { hidden: vec![32], latent_dim: 4, ..VaeConfig::new(8) };
        let b = unit_batch(32, 8, 0);
        let mut a = Vae::new(cfg.clone(), 11).unwrap();
        let mut c = Vae::new(cfg, 11).unwrap();
        let first = a.train_step(&b).unwrap().total;
        c.train_step(&b).unwrap();
        for _ in 0..300 {
            a.train_step(&b).unwrap();
            c.train_step(&b).unwrap();
        }
        let last = a.eval_loss(&b).unwrap().total;
        assert!(last < 0.8 * first, "{first} -> {last}");
        assert_eq!(a.decoder.layers(), c.decoder.layers());
    }

    #[test]
    fn shape_and_value_errors() {
        let mut vae = Vae::new(VaeConfig { num_classes: Some(3), ..VaeConfig::new(4) }, 0).unwrap();
        let err = vae.train_step(&unit_batch(2, 5, 0)).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Shape { .. }), "{err}");
        let err = vae.train_step(&unit_batch(2, 4, 0)).unwrap_err();
        assert!(err.to_string().contains("conditional"), "{err}");
        let mut b = unit_batch(2, 4, 5);
        b.targets = Some(Array2::zeros((2, 2)));
        assert!(matches!(vae.train_step(&b).unwrap_err().kind(), ErrorKind::Shape { .. }));
        b.targets = Some(Array2::zeros((2, 3)));
        b.features[[1, 2]] = 1.5;
        let err = vae.train_step(&b).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::ModelInput { step: 5, .. }), "{err:?}");
        assert!(err.to_string().contains("row 1, feature 2: value 1.5 is outside [0, 1]"), "{err}");
        assert_eq!(vae.steps(), 0);
    }

    #[test]
    fn non_finite_loss_names_the_step() {
        let mut vae = Vae::new(VaeConfig { scale: DataScale::Real, ..VaeConfig::new(2) }, 0).unwrap();
        vae.train_step(&Batch::new(0, ndarray::array![[0.0f32, 1.0], [1.0, 0.0]], None, vec![0, 1]).unwrap()).unwrap();
        vae.fc_logvar.bias.fill(1e6);
        let before = vae.decoder.layers().to_vec();
        let err = vae.train_step(&Batch::new(1, ndarray::array![[0.0f32, 1.0]], None, vec![0]).unwrap()).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Diverged { step: 1, .. }), "{err:?}");
        assert_eq!(vae.decoder.layers(), &before[..]);
    }

    #[test]
    fn invalid_configs() {
        for cfg in [
            VaeConfig::new(0),
            VaeConfig { latent_dim: 0, ..VaeConfig::new(3) },
            VaeConfig { hidden: vec![], ..VaeConfig::new(3) },
            VaeConfig { hidden: vec![4, 0], ..VaeConfig::new(3) },
            VaeConfig { num_classes: Some(0), ..VaeConfig::new(3) },
            VaeConfig { adam: AdamConfig { lr: f32::INFINITY, ..Default::default() }, ..VaeConfig::new(3) },
            VaeConfig { feature_names: Some(vec!["a".into()]), ..VaeConfig::new(3) },
        ] {
            assert!(matches!(Vae::new(cfg.clone(), 0).unwrap_err().kind(), ErrorKind::Config { .. }), "{cfg:?}");
        }
    }

    #[test]
    fn real_scale_generates_in_data_scale() {
        let x =
            Array2::from_shape_fn(
                (64, 2),
                |(i, j)| {
                    if j == 0 {
                        100.0 + (i % 8) as f32
                    } else {
                        -5.0 + 0.01 * (i % 4) as f32
                    }
                },
            );
        let b = Batch::new(0, x, None, (0..64).collect()).unwrap();
        let mut vae =
            Vae::new(VaeConfig { scale: DataScale::Real, hidden: vec![16], latent_dim: 2, ..VaeConfig::new(2) }, 1)
                .unwrap();
        for _ in 0..300 {
            vae.train_step(&b).unwrap();
        }
        let s = vae.standardization().unwrap();
        assert!((s.mean()[0] - 103.5).abs() < 1e-3);
        let out = vae.sampler().generate(None, 500, &mut rng::derive(0, 0, 0)).unwrap();
        let m0 = out.column(0).mean().unwrap();
        let m1 = out.column(1).mean().unwrap();
        assert!((m0 - 103.5).abs() < 2.0, "{m0}");
        assert!((m1 + 4.985).abs() < 0.1, "{m1}");
    }
}
