//! [`Mixup`]: the seed's Mixup (per-row λ ~ Beta(α, α), partner from a random permutation of
//! the batch), plus timm's batch/pair modes, CutMix, apply probability and label smoothing.

use rand::Rng;

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::rng::{permutation, uniform, StepRng};
use crate::spec::{DataSpec, TargetKind};
use crate::stage::beta::{beta_symmetric, MAX_ALPHA, MIN_ALPHA};
use crate::stage::cutmix::{paste, rand_box, CutBox, Shape};
use crate::stage::spare::{rewrite_rows, Spare};
use crate::stage::Stage;

/// How many λ's a batch gets and who shares them (timm's `mode`).
///
/// # Example
/// ```
/// use shardmix::{Batch, MixMode, Mixup, Stage};
/// let x = ndarray::Array2::from_shape_fn((4, 2), |(i, j)| (i + j) as f32);
/// let batch = Batch::new(0, x, None, vec![0, 1, 2, 3])?;
/// let out = Mixup::new(1.0).mode(MixMode::Batch).apply(batch, &mut shardmix::rng::for_stage(1, 0, 0))?;
/// let l = out.provenance.lambda[0];
/// assert!(out.provenance.lambda.iter().all(|&x| x == l));
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MixMode {
    /// One λ per row, partner `index[i]` with `index` a random permutation: the seed's
    /// `mixup_batch` (timm's `_mix_elem`, with the seed's random partner instead of timm's
    /// flipped batch). The default.
    #[default]
    Elem,
    /// One λ (and, for CutMix, one box) for the whole batch, partner `index[i]` (timm's
    /// `_mix_batch`).
    Batch,
    /// One λ (and box) per pair: rows are paired at random (`perm[2k]` with `perm[2k + 1]`),
    /// each row of a pair is mixed with the other with the same own-weight λ, as in timm's
    /// `_mix_pair` (which pairs row `i` with row `B − 1 − i` of a batch its loader shuffled;
    /// shardmix batches may be contiguous, so the pairing is random). With an odd row count
    /// the last row of the permutation is left unmixed.
    Pair,
}

/// The Mixup / CutMix stage.
///
/// For every batch it draws, in this fixed order, from the stage's [`StepRng`]:
///
/// 1. one uniform `u` — the batch is mixed iff `u < prob`;
/// 2. when both Mixup (α > 0) and CutMix are enabled, one uniform `v` — CutMix iff
///    `v < switch_prob` (with only CutMix enabled it is always CutMix, with only Mixup never);
/// 3. the λ's in `f64` from Beta(α, α) (α of the chosen method): `B` of them in
///    [`MixMode::Elem`], 1 in [`MixMode::Batch`], `B / 2` in [`MixMode::Pair`];
/// 4. the permutation `index` of `0..B` ([`crate::rng::permutation`]);
/// 5. for CutMix only, one box centre per λ, in λ order (row below(H), then column below(W)).
///
/// Both uniforms of steps 1–2 are drawn even when the batch is not mixed. With α = 0 and no
/// CutMix nothing is drawn and the batch passes through unchanged.
///
/// Each λ is rounded to `f32` and that `f32` is both recorded in the provenance and used in
/// the arithmetic, row `i` becoming `x_i · λ + x_index[i] · (1 − λ)` (targets alike, class,
/// soft and regression targets all as numbers; batches without targets are mixed on their
/// features only). Because λ is recorded in `f32`, draws within ~6e-8 of 1 (about 1.9 % of
/// them at α = 0.2) become exactly 1 and leave their row as it was, where the seed's `f64`
/// λ would add a partner weight below 6e-8. The provenance of a mixed row gets `row_b = row_a[index[i]]` (the
/// partner's first-sample row id) and `lambda = λ`; `origin` and `row_a` are kept.
///
/// # Example
/// ```
/// use shardmix::{Batch, MixMode, Mixup, Stage};
/// let mixup = Mixup::new(0.2).mode(MixMode::Elem);
/// let x = ndarray::array![[0.0f32, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]];
/// let y = ndarray::array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
/// let batch = Batch::new(0, x.clone(), Some(y), vec![10, 11, 12, 13])?;
/// let out = mixup.apply(batch, &mut shardmix::rng::for_stage(42, 0, 0))?;
/// for i in 0..4 {
///     let (l, b) = (out.provenance.lambda[i].unwrap(), out.provenance.row_b[i].unwrap());
///     let j = (b - 10) as usize;
///     let want = x[[i, 0]] * l + x[[j, 0]] * (1.0 - l);
///     assert!((out.features[[i, 0]] - want).abs() < 1e-6);
/// }
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Mixup {
    alpha: f64,
    mode: MixMode,
    prob: f64,
    smoothing: f64,
    cutmix_alpha: f64,
    switch_prob: f64,
    shape: Option<Vec<usize>>,
}

/// What one batch's draws decided, per row.
struct Plan {
    /// Partner of each row.
    index: Vec<usize>,
    /// Own weight of each row; `None` for a row left unmixed.
    lam: Vec<Option<f32>>,
    /// CutMix box of each row (empty for Mixup).
    boxes: Vec<CutBox>,
}

fn check_unit(name: &str, p: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(Error::config(name, format!("must be in [0, 1], got {p}")))
    }
}

/// `alpha` if it is 0 (off) or in [[`Mixup::MIN_ALPHA`], [`Mixup::MAX_ALPHA`]].
pub(crate) fn check_alpha(name: &str, alpha: f64) -> Result<f64> {
    if alpha == 0.0 || (MIN_ALPHA..=MAX_ALPHA).contains(&alpha) {
        Ok(alpha)
    } else {
        Err(Error::config(
            name,
            format!("must be 0 (off) or in [{MIN_ALPHA:e}, {MAX_ALPHA:e}] (where Beta(α, α) draws stay finite), got {alpha:e}"),
        ))
    }
}

impl Mixup {
    /// The smallest positive α (Mixup and CutMix) accepted: below it Beta(α, α) draws become
    /// NaN (`1/α` overflows); see the derivation in `src/stage/beta.rs`.
    pub const MIN_ALPHA: f64 = MIN_ALPHA;
    /// The largest α accepted: above it the Gamma ratio overflows.
    pub const MAX_ALPHA: f64 = MAX_ALPHA;

    /// Mixup with λ ~ Beta(`alpha`, `alpha`); `alpha = 0` disables mixing (the seed's
    /// default is 0.2). Defaults: [`MixMode::Elem`], prob 1, no label smoothing, no CutMix.
    ///
    /// The constructor and the setters only record their values; [`Mixup::validate`] checks
    /// them all, once, when the pipeline is built ([`Stage::check`]) and again before each
    /// [`Stage::apply`] (so a stage used on its own never draws from bad parameters).
    ///
    /// # Example
    /// ```
    /// use shardmix::{ErrorKind, Mixup};
    /// assert!(Mixup::new(0.2).validate().is_ok());
    /// let err = Mixup::new(-1.0).validate().unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "mixup_alpha"));
    /// ```
    pub fn new(alpha: f64) -> Self {
        Mixup {
            alpha,
            mode: MixMode::Elem,
            prob: 1.0,
            smoothing: 0.0,
            cutmix_alpha: 0.0,
            switch_prob: 0.5,
            shape: None,
        }
    }

    /// Who shares a λ (default [`MixMode::Elem`], the seed's per-row λ).
    ///
    /// # Example
    /// ```
    /// use shardmix::{MixMode, Mixup};
    /// let m = Mixup::new(0.4).mode(MixMode::Pair);
    /// ```
    pub fn mode(mut self, mode: MixMode) -> Self {
        self.mode = mode;
        self
    }

    /// Mix a batch with probability `p` (default 1: every batch). Decided once per batch.
    /// [`Mixup::validate`] refuses `mixup_prob` outside [0, 1] or NaN.
    ///
    /// # Example
    /// ```
    /// let m = shardmix::Mixup::new(0.2).prob(0.5);
    /// ```
    pub fn prob(mut self, p: f64) -> Self {
        self.prob = p;
        self
    }

    /// Label smoothing `s` (default 0): every batch's class targets become
    /// `target · (1 − s) + s / C` before mixing — for one-hot input timm's `on = 1 − s + s/C`,
    /// `off = s/C`. Applied to every batch the stage sees, mixed or not (as timm does); the
    /// data must have class or soft-label targets ([`Stage::check`]). [`Mixup::validate`]
    /// refuses `label_smoothing` outside [0, 1).
    ///
    /// # Example
    /// ```
    /// let m = shardmix::Mixup::new(0.8).label_smoothing(0.1);
    /// ```
    pub fn label_smoothing(mut self, s: f64) -> Self {
        self.smoothing = s;
        self
    }

    /// Enable CutMix with box-size λ ~ Beta(`alpha`, `alpha`) (default 0: disabled). Needs
    /// [`feature_shape`](Mixup::feature_shape). With Mixup also enabled, each batch uses
    /// CutMix with probability [`switch_prob`](Mixup::switch_prob). [`Mixup::validate`]
    /// refuses `cutmix_alpha` unless 0 or in [[`Mixup::MIN_ALPHA`], [`Mixup::MAX_ALPHA`]].
    ///
    /// # Example
    /// ```
    /// let m = shardmix::Mixup::new(0.0).cutmix(1.0).feature_shape(&[28, 28, 1]);
    /// ```
    pub fn cutmix(mut self, alpha: f64) -> Self {
        self.cutmix_alpha = alpha;
        self
    }

    /// Probability of CutMix rather than Mixup when both are enabled (default 0.5, as timm).
    /// [`Mixup::validate`] refuses `switch_prob` outside [0, 1].
    ///
    /// # Example
    /// ```
    /// let m = shardmix::Mixup::new(0.8).cutmix(1.0).switch_prob(0.3);
    /// ```
    pub fn switch_prob(mut self, p: f64) -> Self {
        self.switch_prob = p;
        self
    }

    /// The image shape `[H, W, C]` of each feature row (row-major, channels last), used by
    /// CutMix (default: none). [`Mixup::validate`] refuses `feature_shape` unless it has
    /// exactly three non-zero dimensions; [`Stage::check`] also rejects a shape whose product
    /// is not the data's feature count.
    ///
    /// # Example
    /// ```
    /// use shardmix::{ErrorKind, Mixup};
    /// let m = Mixup::new(0.0).cutmix(1.0).feature_shape(&[32, 32, 3]);
    /// assert!(m.validate().is_ok());
    /// let err = Mixup::new(0.0).feature_shape(&[28, 28]).validate().unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "feature_shape"));
    /// ```
    pub fn feature_shape(mut self, shape: &[usize]) -> Self {
        self.shape = Some(shape.to_vec());
        self
    }

    /// Check every parameter given to the constructor and the setters. The pipeline runs it
    /// when it is built (through [`Stage::check`]), and [`Stage::apply`] runs it before each
    /// batch; call it yourself to learn of a bad value earlier.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the first bad parameter:
    /// `mixup_alpha` or `cutmix_alpha` unless 0 (off) or in [[`Mixup::MIN_ALPHA`],
    /// [`Mixup::MAX_ALPHA`]] (negative, NaN, infinite, or so small that λ would be NaN);
    /// `mixup_prob` or `switch_prob` outside [0, 1] or NaN; `label_smoothing` outside [0, 1);
    /// `feature_shape` unless three non-zero dimensions whose product fits a `usize`.
    pub fn validate(&self) -> Result<()> {
        self.checked_shape().map(|_| ())
    }

    /// [`Mixup::validate`], returning the parsed feature shape.
    fn checked_shape(&self) -> Result<Option<Shape>> {
        check_alpha("mixup_alpha", self.alpha)?;
        check_unit("mixup_prob", self.prob)?;
        if !(0.0..1.0).contains(&self.smoothing) {
            return Err(Error::config("label_smoothing", format!("must be in [0, 1), got {}", self.smoothing)));
        }
        check_alpha("cutmix_alpha", self.cutmix_alpha)?;
        check_unit("switch_prob", self.switch_prob)?;
        self.shape.as_deref().map(|s| super::geometry::parse_hwc("feature_shape", s)).transpose()
    }

    /// One λ draw from Beta(`alpha`, `alpha`) in `f64`: the sampler the stage uses (Jöhnk's
    /// algorithm for α ≤ 1, a ratio of Marsaglia–Tsang Gamma draws above), built on
    /// [`crate::rng::uniform`] so its stream is stable across dependency upgrades.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for `mixup_alpha` unless `alpha` is in
    /// [[`Mixup::MIN_ALPHA`], [`Mixup::MAX_ALPHA`]].
    ///
    /// # Example
    /// ```
    /// let mut rng = shardmix::rng::derive(1, 2, 3);
    /// let l = shardmix::Mixup::sample_lambda(0.2, &mut rng)?;
    /// assert!((0.0..=1.0).contains(&l));
    /// # Ok::<(), shardmix::Error>(())
    /// ```
    pub fn sample_lambda(alpha: f64, rng: &mut impl Rng) -> Result<f64> {
        if !(MIN_ALPHA..=MAX_ALPHA).contains(&alpha) {
            return Err(Error::config(
                "mixup_alpha",
                format!("must be in [{MIN_ALPHA:e}, {MAX_ALPHA:e}] to sample λ, got {alpha:e}"),
            ));
        }
        Ok(beta_symmetric(alpha, rng))
    }

    fn mixup_on(&self) -> bool {
        self.alpha > 0.0
    }

    fn cutmix_on(&self) -> bool {
        self.cutmix_alpha > 0.0
    }

    /// The label smoothing in the `f32` the arithmetic uses.
    fn smoothing(&self) -> f32 {
        self.smoothing as f32
    }

    /// The draws for a batch of `n` rows (see the type's docs for the order); `None` when the
    /// batch is not to be mixed.
    fn plan(&self, n: usize, shape: Option<Shape>, rng: &mut StepRng) -> Option<Plan> {
        let apply = uniform(rng) < self.prob;
        let use_cutmix = match (self.mixup_on(), self.cutmix_on()) {
            (true, true) => uniform(rng) < self.switch_prob,
            (false, true) => true,
            _ => false,
        };
        if !apply {
            return None;
        }
        let alpha = if use_cutmix { self.cutmix_alpha } else { self.alpha };
        let count = match self.mode {
            MixMode::Elem => n,
            MixMode::Batch => 1,
            MixMode::Pair => n / 2,
        };
        let mut lams: Vec<f64> = (0..count).map(|_| beta_symmetric(alpha, rng)).collect();
        let perm = permutation(rng, n);
        let mut boxes = Vec::new();
        if use_cutmix {
            if let Some(shape) = shape {
                boxes.reserve(count);
                for l in lams.iter_mut() {
                    let (b, corrected) = rand_box(shape, *l, rng);
                    boxes.push(b);
                    *l = corrected;
                }
            }
        }
        let lams32: Vec<f32> = lams.iter().map(|&l| l as f32).collect();
        let empty = CutBox { y0: 0, y1: 0, x0: 0, x1: 0 };
        let mut plan = Plan { index: Vec::with_capacity(n), lam: Vec::with_capacity(n), boxes: Vec::new() };
        match self.mode {
            MixMode::Elem | MixMode::Batch => {
                let k = |i: usize| if self.mode == MixMode::Elem { i } else { 0 };
                plan.index = perm;
                plan.lam = (0..n).map(|i| Some(lams32[k(i)])).collect();
                if !boxes.is_empty() {
                    plan.boxes = (0..n).map(|i| boxes[k(i)]).collect();
                }
            }
            MixMode::Pair => {
                plan.index = (0..n).collect();
                plan.lam = vec![None; n];
                if !boxes.is_empty() {
                    plan.boxes = vec![empty; n];
                }
                for (k, pair) in perm.chunks_exact(2).enumerate() {
                    let (a, b) = (pair[0], pair[1]);
                    plan.index[a] = b;
                    plan.index[b] = a;
                    plan.lam[a] = Some(lams32[k]);
                    plan.lam[b] = Some(lams32[k]);
                    if !boxes.is_empty() {
                        plan.boxes[a] = boxes[k];
                        plan.boxes[b] = boxes[k];
                    }
                }
            }
        }
        Some(plan)
    }
}

/// Row `i` of `out` = `src_i · λ_i + src_index[i] · (1 − λ_i)`, or a copy when unmixed.
fn mix_rows(src: &[f32], out: &mut [f32], width: usize, plan: &Plan) {
    if width == 0 {
        return;
    }
    for (i, dst) in out.chunks_exact_mut(width).enumerate() {
        let a = &src[i * width..(i + 1) * width];
        match plan.lam[i] {
            None => dst.copy_from_slice(a),
            Some(l) => {
                let j = plan.index[i];
                let b = &src[j * width..(j + 1) * width];
                let m = 1.0 - l;
                for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                    *d = x * l + y * m;
                }
            }
        }
    }
}

/// Row `i` of `out` = `src_i` with the box of row `index[i]` pasted in.
fn cut_rows(src: &[f32], out: &mut [f32], shape: Shape, plan: &Plan) {
    let width = shape.len();
    for (i, dst) in out.chunks_exact_mut(width).enumerate() {
        dst.copy_from_slice(&src[i * width..(i + 1) * width]);
        if plan.lam[i].is_some() {
            let j = plan.index[i];
            paste(dst, &src[j * width..(j + 1) * width], shape, plan.boxes[i]);
        }
    }
}

impl Stage for Mixup {
    fn name(&self) -> &str {
        "mixup"
    }

    /// Checks the parameters ([`Mixup::validate`]), then that CutMix has a feature shape whose
    /// product is the data's feature count (and that agrees with the shape the data declares,
    /// if any), and that label smoothing has class or soft-label targets to smooth.
    fn check(&self, spec: &DataSpec) -> Result<()> {
        let shape = self.checked_shape()?;
        spec.pixels.require_float(if self.cutmix_on() { "cutmix" } else { "mixup" })?;
        if self.cutmix_on() {
            super::geometry::check_input("CutMix", shape, spec)?;
        }
        if self.smoothing() > 0.0 {
            let what = match &spec.target {
                TargetKind::Class { .. } | TargetKind::Soft { .. } => None,
                TargetKind::Regression { column } => Some(format!("the target is the regression column '{column}'")),
                TargetKind::None => Some("the data has no target".to_string()),
            };
            if let Some(what) = what {
                return Err(Error::config("label_smoothing", format!("needs class or soft-label targets, but {what}")));
            }
        }
        Ok(())
    }

    fn apply(&self, mut batch: Batch, rng: &mut StepRng) -> Result<Batch> {
        let shape = self.checked_shape()?;
        if self.smoothing() > 0.0 {
            if let Some(t) = batch.targets.as_mut() {
                let s = self.smoothing();
                let off = s / t.ncols().max(1) as f32;
                t.mapv_inplace(|v| v * (1.0 - s) + off);
            }
        }
        if !self.mixup_on() && !self.cutmix_on() {
            return Ok(batch);
        }
        batch.validate()?;
        let (n, f) = (batch.rows(), batch.num_features());
        if self.cutmix_on() {
            let Some(s) = shape else {
                return Err(Error::config("feature_shape", "CutMix needs the image shape [H, W, C] of the features"));
            };
            super::geometry::check_batch("CutMix", s, &batch)?;
        }
        let Some(plan) = self.plan(n, shape, rng) else {
            return Ok(batch);
        };

        match (plan.boxes.is_empty(), shape) {
            (false, Some(shape)) => {
                rewrite_rows(&mut batch.features, Spare::Features, "mixup features", |src, out| {
                    cut_rows(src, out, shape, &plan)
                })?
            }
            _ => rewrite_rows(&mut batch.features, Spare::Features, "mixup features", |src, out| {
                mix_rows(src, out, f, &plan)
            })?,
        }
        if let Some(t) = batch.targets.as_mut() {
            let c = t.ncols();
            rewrite_rows(t, Spare::Targets, "mixup targets", |src, out| mix_rows(src, out, c, &plan))?;
        }

        let p = &mut batch.provenance;
        for i in 0..n {
            if let Some(l) = plan.lam[i] {
                p.row_b[i] = Some(p.row_a[plan.index[i]]);
                p.lambda[i] = Some(l);
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::for_stage;
    use crate::spec::FeatureLayout;
    use ndarray::{array, Array2};

    fn batch(n: usize, f: usize, classes: usize) -> Batch {
        let x = Array2::from_shape_fn((n, f), |(i, j)| (i * f + j) as f32 * 0.25 - 3.0);
        let y = Array2::from_shape_fn((n, classes), |(i, j)| (i % classes == j) as u8 as f32);
        Batch::new(7, x, Some(y), (100..100 + n as u64).collect()).unwrap()
    }

    fn spec(f: usize, target: TargetKind, shape: Option<Vec<usize>>) -> DataSpec {
        DataSpec {
            features: FeatureLayout::List { column: "x".into(), len: f },
            target,
            feature_shape: shape,
            pixels: Default::default(),
        }
    }

    #[test]
    fn rejects_bad_hyperparameters() {
        /// The parameter a Config error names.
        fn param(e: Error) -> String {
            match e.kind() {
                crate::ErrorKind::Config { name, .. } => name.clone(),
                other => panic!("not a Config error: {other:?}"),
            }
        }
        let m = Mixup::new(0.2);
        let cls = spec(4, TargetKind::Class { column: "y".into(), num_classes: 2 }, None);
        let cases = [
            (Mixup::new(-0.1), "mixup_alpha"),
            (Mixup::new(f64::NAN), "mixup_alpha"),
            (Mixup::new(f64::INFINITY), "mixup_alpha"),
            (m.clone().prob(1.5), "mixup_prob"),
            (m.clone().prob(f64::NAN), "mixup_prob"),
            (m.clone().label_smoothing(1.0), "label_smoothing"),
            (m.clone().cutmix(-1.0), "cutmix_alpha"),
            (m.clone().switch_prob(-0.1), "switch_prob"),
            (m.clone().feature_shape(&[2, 0, 1]), "feature_shape"),
            (m.feature_shape(&[2, 2, 2, 2]), "feature_shape"),
        ];
        for (bad, name) in cases {
            assert_eq!(param(bad.validate().unwrap_err()), name);
            assert_eq!(param(bad.check(&cls).unwrap_err()), name, "check runs validate");
            let e = bad.apply(batch(4, 4, 2), &mut for_stage(0, 0, 0)).unwrap_err();
            assert_eq!(param(e), name, "apply runs validate");
        }
    }

    #[test]
    fn alpha_zero_is_identity_and_draws_nothing() {
        let b = batch(6, 3, 2);
        let mut r = for_stage(1, 0, 0);
        let out = Mixup::new(0.0).apply(b.clone(), &mut r).unwrap();
        assert_eq!(out, b);
        assert_eq!(r.get_word_pos(), for_stage(1, 0, 0).get_word_pos());
    }

    #[test]
    fn elem_rows_are_recomputable_from_provenance() {
        let b = batch(9, 4, 3);
        let out = Mixup::new(0.4).apply(b.clone(), &mut for_stage(3, 0, 5)).unwrap();
        let p = &out.provenance;
        for i in 0..9 {
            let j = (p.row_b[i].unwrap() - 100) as usize;
            let l = p.lambda[i].unwrap();
            assert!((0.0..=1.0).contains(&l));
            for k in 0..4 {
                let want = b.features[[i, k]] * l + b.features[[j, k]] * (1.0 - l);
                assert_eq!(out.features[[i, k]], want);
            }
            let t = out.targets.as_ref().unwrap();
            assert!((t.row(i).sum() - 1.0).abs() < 1e-6);
        }
        // Partners form a permutation.
        let mut partners: Vec<u64> = p.row_b.iter().map(|b| b.unwrap()).collect();
        partners.sort();
        assert_eq!(partners, (100..109).collect::<Vec<_>>());
    }

    #[test]
    fn batch_mode_shares_one_lambda_and_pair_mode_pairs() {
        let b = batch(8, 2, 2);
        let out = Mixup::new(1.0).mode(MixMode::Batch).apply(b.clone(), &mut for_stage(3, 0, 1)).unwrap();
        let l0 = out.provenance.lambda[0];
        assert!(out.provenance.lambda.iter().all(|&l| l == l0 && l.is_some()));

        let out = Mixup::new(1.0).mode(MixMode::Pair).apply(batch(9, 2, 2), &mut for_stage(3, 0, 2)).unwrap();
        let p = &out.provenance;
        let unmixed = p.lambda.iter().filter(|l| l.is_none()).count();
        assert_eq!(unmixed, 1, "odd batch leaves one row");
        for i in 0..9 {
            if let Some(b) = p.row_b[i] {
                let j = (b - 100) as usize;
                assert_ne!(i, j);
                assert_eq!(p.row_b[j], Some(100 + i as u64));
                assert_eq!(p.lambda[i], p.lambda[j]);
            }
        }
    }

    #[test]
    fn label_smoothing_follows_timm() {
        let m = Mixup::new(0.0).label_smoothing(0.1);
        let b = Batch::new(0, array![[1.0f32]], Some(array![[0.0f32, 1.0, 0.0, 0.0]]), vec![0]).unwrap();
        let out = m.apply(b, &mut for_stage(0, 0, 0)).unwrap();
        let t = out.targets.unwrap();
        assert!((t[[0, 1]] - (0.9 + 0.025)).abs() < 1e-7);
        assert!((t[[0, 0]] - 0.025).abs() < 1e-7);
    }

    #[test]
    fn check_validates_shape_and_targets() {
        let cls = TargetKind::Class { column: "y".into(), num_classes: 10 };
        let m = Mixup::new(0.2).cutmix(1.0);
        let e = m.check(&spec(784, cls.clone(), None)).unwrap_err().to_string();
        assert!(e.contains("feature_shape"), "{e}");
        let m = m.feature_shape(&[28, 28, 1]);
        assert!(m.check(&spec(784, cls.clone(), None)).is_ok());
        let e = m.check(&spec(785, cls.clone(), None)).unwrap_err().to_string();
        assert!(e.contains("[28, 28, 1]") && e.contains("785"), "{e}");
        let e = m.check(&spec(784, cls.clone(), Some(vec![14, 56, 1]))).unwrap_err().to_string();
        assert!(e.contains("[14, 56, 1]"), "{e}");

        let s = Mixup::new(0.2).label_smoothing(0.1);
        assert!(s.check(&spec(4, cls, None)).is_ok());
        let e = s.check(&spec(4, TargetKind::Regression { column: "price".into() }, None)).unwrap_err().to_string();
        assert!(e.contains("label_smoothing") && e.contains("price"), "{e}");
        let e = s.check(&spec(4, TargetKind::None, None)).unwrap_err();
        assert!(matches!(e.kind(), crate::ErrorKind::Config { name, .. } if name == "label_smoothing"), "{e}");
    }

    #[test]
    fn cutmix_pastes_partner_box_and_corrects_lambda() {
        let (h, w, c) = (6, 5, 2);
        let n = 7;
        let b = batch(n, h * w * c, 3);
        let m = Mixup::new(0.0).cutmix(1.0).feature_shape(&[h, w, c]);
        let out = m.apply(b.clone(), &mut for_stage(9, 0, 0)).unwrap();
        for i in 0..n {
            let j = (out.provenance.row_b[i].unwrap() - 100) as usize;
            let l = out.provenance.lambda[i].unwrap();
            let mut own = 0;
            for px in 0..h * w {
                let from_self = (0..c).all(|k| out.features[[i, px * c + k]] == b.features[[i, px * c + k]]);
                let from_partner = (0..c).all(|k| out.features[[i, px * c + k]] == b.features[[j, px * c + k]]);
                assert!(from_self || from_partner);
                if from_self && (i == j || !from_partner) {
                    own += 1;
                }
            }
            if i != j {
                assert!((l - own as f32 / (h * w) as f32).abs() < 1e-6, "row {i}: λ {l}, own {own}");
            }
        }
    }

    #[test]
    fn wrong_feature_count_at_apply_is_an_error() {
        let m = Mixup::new(0.0).cutmix(1.0).feature_shape(&[2, 2, 1]);
        let e = m.apply(batch(2, 5, 2), &mut for_stage(0, 0, 0)).unwrap_err();
        assert!(e.to_string().contains("[2, 2, 1]"), "{e}");
    }
}
