//! Mixup / CutMix: every output row explained by its provenance, the λ sampler against the
//! exact Beta(α, α) law, partner uniformity, CutMix geometry and the convex-combination
//! property.

use std::collections::HashMap;

use ndarray::Array2;
use proptest::prelude::*;
use shardmix::rng::{derive, for_stage, permutation, uniform};
use shardmix::{Batch, MixMode, Mixup, Origin, Stage};

// ---------------------------------------------------------------- fixtures and helpers

/// `n` rows × `f` features of distinct values, one-hot targets over `c` classes, row ids from 1000.
fn batch(step: u64, n: usize, f: usize, c: usize) -> Batch {
    let x = Array2::from_shape_fn((n, f), |(i, j)| ((i * 7919 + j * 104_729) % 10_007) as f32 / 1000.0 - 5.0);
    let y = (c > 0).then(|| Array2::from_shape_fn((n, c), |(i, j)| (i % c == j) as u8 as f32));
    Batch::new(step, x, y, (1000..1000 + n as u64).collect()).unwrap()
}

/// Recompute every output row from the unmixed source rows and the provenance; returns the
/// number of mixed rows. `smoothing` is applied to the source targets first.
fn recompute(src: &Batch, out: &Batch, smoothing: f32) -> usize {
    let pos: HashMap<u64, usize> = src.provenance.row_a.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    let smooth = |v: f32, c: usize| v * (1.0 - smoothing) + smoothing / c as f32;
    let p = &out.provenance;
    assert_eq!(p.row_a, src.provenance.row_a, "row_a is kept");
    assert_eq!(p.origin, src.provenance.origin, "origin is kept");
    let mut mixed = 0;
    for i in 0..out.rows() {
        let a = pos[&p.row_a[i]];
        let (b, l) = match (p.row_b[i], p.lambda[i]) {
            (Some(rb), Some(l)) => {
                mixed += 1;
                (pos[&rb], l)
            }
            (None, None) => (a, 1.0),
            other => panic!("row {i}: inconsistent provenance {other:?}"),
        };
        assert!((0.0..=1.0).contains(&l), "λ {l}");
        for k in 0..out.num_features() {
            let want = src.features[[a, k]] * l + src.features[[b, k]] * (1.0 - l);
            let got = out.features[[i, k]];
            assert!((got - want).abs() <= 1e-6, "row {i} feature {k}: {got} vs {want}");
        }
        if let (Some(st), Some(ot)) = (&src.targets, &out.targets) {
            let c = st.ncols();
            for k in 0..c {
                let want = smooth(st[[a, k]], c) * l + smooth(st[[b, k]], c) * (1.0 - l);
                assert!((ot[[i, k]] - want).abs() <= 1e-6, "row {i} target {k}");
            }
        }
    }
    mixed
}

// ---------------------------------------------------------------- provenance explains rows

#[test]
fn every_mode_is_recomputable_from_provenance() {
    for mode in [MixMode::Elem, MixMode::Batch, MixMode::Pair] {
        for step in 0..20 {
            let src = batch(step, 32, 12, 5);
            let m = Mixup::new(0.4).mode(mode);
            let out = m.apply(src.clone(), &mut for_stage(11, 0, step)).unwrap();
            assert_eq!(recompute(&src, &out, 0.0), 32, "{mode:?}: all rows mixed");
            // One-hot in, soft labels out that still sum to 1.
            for row in out.targets.as_ref().unwrap().rows() {
                assert!((row.sum() - 1.0).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn label_smoothing_then_mixing_is_recomputable() {
    let src = batch(3, 16, 4, 10);
    let m = Mixup::new(1.0).label_smoothing(0.1);
    let out = m.apply(src.clone(), &mut for_stage(1, 2, 3)).unwrap();
    assert_eq!(recompute(&src, &out, 0.1), 16);
    for row in out.targets.as_ref().unwrap().rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5);
        assert!(row.iter().all(|&v| v >= 0.01 - 1e-7), "off value is s / C");
    }
}

#[test]
fn regression_targets_and_no_targets() {
    let mut src = batch(0, 10, 3, 0);
    src.targets = Some(Array2::from_shape_fn((10, 1), |(i, _)| i as f32 * 10.0));
    let out = Mixup::new(0.2).apply(src.clone(), &mut for_stage(5, 0, 0)).unwrap();
    assert_eq!(recompute(&src, &out, 0.0), 10);

    let src = batch(0, 10, 3, 0);
    assert!(src.targets.is_none());
    let out = Mixup::new(0.2).apply(src.clone(), &mut for_stage(5, 0, 1)).unwrap();
    assert!(out.targets.is_none());
    assert_eq!(recompute(&src, &out, 0.0), 10);
}

#[test]
fn synthetic_partner_is_named_by_its_row_a() {
    let mut src = batch(0, 6, 2, 2);
    src.provenance.origin[2] = Origin::Gan;
    src.provenance.row_a[2] = 555;
    let out = Mixup::new(0.3).apply(src.clone(), &mut for_stage(0, 0, 0)).unwrap();
    recompute(&src, &out, 0.0);
    assert_eq!(out.provenance.origin[2], Origin::Gan);
    assert!(out.provenance.row_b.contains(&Some(555)));
}

#[test]
fn same_seed_same_batch() {
    let m = Mixup::new(0.2);
    let a = m.apply(batch(4, 16, 8, 3), &mut for_stage(9, 1, 4)).unwrap();
    let b = m.apply(batch(4, 16, 8, 3), &mut for_stage(9, 1, 4)).unwrap();
    let c = m.apply(batch(4, 16, 8, 3), &mut for_stage(9, 1, 5)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

// ---------------------------------------------------------------- α = 0 and prob

#[test]
fn alpha_zero_is_bit_for_bit_identity() {
    let mut src = batch(0, 64, 17, 4);
    src.features[[3, 3]] = -0.0;
    src.features[[4, 4]] = f32::MIN_POSITIVE / 2.0; // subnormal
    let out = Mixup::new(0.0).apply(src.clone(), &mut for_stage(0, 0, 0)).unwrap();
    let bits = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&out.features), bits(&src.features));
    assert_eq!(bits(out.targets.as_ref().unwrap()), bits(src.targets.as_ref().unwrap()));
    assert_eq!(out.provenance, src.provenance);
}

#[test]
fn prob_zero_never_mixes_and_prob_one_always_mixes() {
    let never = Mixup::new(0.2).prob(0.0);
    let always = Mixup::new(0.2).prob(1.0);
    let sometimes = Mixup::new(0.2).prob(0.3);
    let mut hits = 0;
    for step in 0..1000 {
        let src = batch(step, 4, 2, 2);
        let out = never.apply(src.clone(), &mut for_stage(2, 0, step)).unwrap();
        assert_eq!(out, src, "prob 0 mixed step {step}");
        let out = always.apply(src.clone(), &mut for_stage(2, 0, step)).unwrap();
        assert!(out.provenance.lambda.iter().all(Option::is_some));
        let out = sometimes.apply(src.clone(), &mut for_stage(2, 0, step)).unwrap();
        let mixed = out.provenance.lambda.iter().filter(|l| l.is_some()).count();
        assert!(mixed == 0 || mixed == 4, "prob is per batch");
        hits += (mixed == 4) as usize;
    }
    // Binomial(1000, 0.3): sd 14.5.
    assert!((240..=360).contains(&hits), "{hits}");
}

// ---------------------------------------------------------------- the λ law

/// ln Γ(x) (Lanczos, Numerical Recipes `gammln`).
fn ln_gamma(x: f64) -> f64 {
    const COF: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.120_865_097_386_617_9e-2,
        -0.539_523_938_495_3e-5,
    ];
    let tmp = x + 5.5;
    let tmp = tmp - (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    let mut y = x;
    for c in COF {
        y += 1.0;
        ser += c / y;
    }
    -tmp + (2.506_628_274_631_000_5 * ser / x).ln()
}

/// Continued fraction for the incomplete beta function (Numerical Recipes `betacf`,
/// modified Lentz).
fn betacf(a: f64, b: f64, x: f64) -> f64 {
    const FPMIN: f64 = 1e-300;
    let away_from_zero = |v: f64| if v.abs() < FPMIN { FPMIN } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / away_from_zero(1.0 - qab * x / qap);
    let mut h = d;
    // One Lentz step with coefficient `aa`: updates c and d, returns h's factor d·c.
    let mut step = |aa: f64| {
        d = 1.0 / away_from_zero(1.0 + aa * d);
        c = away_from_zero(1.0 + aa / c);
        d * c
    };
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)));
        let del = step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)));
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b): the Beta(a, b) CDF at x.
fn beta_cdf(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let bt = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        bt * betacf(a, b, x) / a
    } else {
        1.0 - bt * betacf(b, a, 1.0 - x) / b
    }
}

/// Kolmogorov's survival function Q_KS (Numerical Recipes `probks`).
fn q_ks(lambda: f64) -> f64 {
    let mut sum = 0.0;
    let mut fac = 2.0;
    let mut prev = 0.0f64;
    for j in 1..=100 {
        let term = fac * (-2.0 * (j * j) as f64 * lambda * lambda).exp();
        sum += term;
        if term.abs() <= 1e-10 * prev || term.abs() <= 1e-12 * sum {
            return sum.clamp(0.0, 1.0);
        }
        fac = -fac;
        prev = term.abs();
    }
    1.0
}

/// One-sample KS test of `xs` against Beta(a, a); returns (D, p).
fn ks_beta(xs: &mut [f64], a: f64) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mut d = 0.0f64;
    for (i, &x) in xs.iter().enumerate() {
        let f = beta_cdf(a, a, x);
        d = d.max(f - i as f64 / n).max((i + 1) as f64 / n - f);
    }
    let en = n.sqrt();
    (d, q_ks((en + 0.12 + 0.11 / en) * d))
}

fn draws(alpha: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = derive(seed, 0xBE7A, alpha.to_bits());
    (0..n).map(|_| Mixup::sample_lambda(alpha, &mut rng).unwrap()).collect()
}

#[test]
fn beta_cdf_helper_is_right() {
    // Closed forms: Beta(1,1) is uniform, Beta(2,2) CDF is 3x² − 2x³, Beta(0.5,0.5) is arcsine.
    for x in [0.01, 0.1, 0.37, 0.5, 0.9] {
        assert!((beta_cdf(1.0, 1.0, x) - x).abs() < 1e-10);
        assert!((beta_cdf(2.0, 2.0, x) - (3.0 * x * x - 2.0 * x * x * x)).abs() < 1e-10);
        let arcsine = 2.0 / std::f64::consts::PI * x.sqrt().asin();
        assert!((beta_cdf(0.5, 0.5, x) - arcsine).abs() < 1e-9);
    }
}

#[test]
fn lambda_passes_kolmogorov_smirnov_against_beta() {
    for alpha in [0.2, 1.0, 2.0] {
        let mut xs = draws(alpha, 100_000, 20);
        assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
        let (d, p) = ks_beta(&mut xs, alpha);
        println!("α = {alpha}: KS D = {d:.5}, p = {p:.3}");
        assert!(p > 0.001, "α = {alpha}: KS D = {d:.5}, p = {p:.3e}");
        // The test has power: the same draws are rejected against a neighbouring α.
        let (_, p_wrong) = ks_beta(&mut xs, alpha * 1.1);
        assert!(p_wrong < 0.001, "α = {alpha}: KS cannot tell α from 1.1 α (p {p_wrong})");
    }
}

#[test]
fn lambda_variance_and_tail_mass_match_the_notes() {
    for (alpha, tail) in [(0.1, 0.8128), (0.2, 0.6734), (0.4, 0.4795), (1.0, 0.2000), (2.0, 0.0560)] {
        let n = 100_000;
        let xs = draws(alpha, n, 21);
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let want_var = 1.0 / (4.0 * (2.0 * alpha + 1.0));
        // sd of the sample variance ≤ sqrt(E(λ−½)⁴ / n) ≤ 0.25 / sqrt(n) ≈ 8e-4.
        assert!((var - want_var).abs() < 3e-3, "α = {alpha}: Var {var:.5} vs {want_var:.5}");
        assert!((mean - 0.5).abs() < 5e-3, "α = {alpha}: mean {mean}");
        let p = xs.iter().filter(|&&x| x.max(1.0 - x) > 0.9).count() as f64 / n as f64;
        let sd = (tail * (1.0 - tail) / n as f64).sqrt();
        assert!((p - tail).abs() < 5.0 * sd + 1e-4, "α = {alpha}: P(max > 0.9) {p:.4} vs {tail}");
    }
}

#[test]
fn stage_follows_the_documented_draw_order() {
    // apply-or-not uniform, (no switch uniform without CutMix), B λ's, the permutation.
    let m = Mixup::new(0.2);
    let n = 64;
    for step in 0..50 {
        let out = m.apply(batch(step, n, 1, 0), &mut for_stage(3, 0, step)).unwrap();
        let mut r = for_stage(3, 0, step);
        let _apply = uniform(&mut r);
        let lams: Vec<Option<f32>> = (0..n).map(|_| Some(Mixup::sample_lambda(0.2, &mut r).unwrap() as f32)).collect();
        let perm = permutation(&mut r, n);
        assert_eq!(out.provenance.lambda, lams);
        let partners: Vec<Option<u64>> = perm.iter().map(|&j| Some(1000 + j as u64)).collect();
        assert_eq!(out.provenance.row_b, partners);
    }
}

#[test]
fn stage_lambdas_follow_beta_below_the_f32_rounding_edge() {
    // The recorded λ's are f32: draws within 6e-8 of 1 (≈ 1.9 % of them at α = 0.2) round
    // to exactly 1.0, so the KS distance is taken over λ < 0.999 only.
    let m = Mixup::new(0.2);
    let mut xs = Vec::new();
    for step in 0..100 {
        let out = m.apply(batch(step, 1024, 1, 0), &mut for_stage(3, 0, step)).unwrap();
        xs.extend(out.provenance.lambda.iter().map(|l| l.unwrap() as f64));
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mut d = 0.0f64;
    for (i, &x) in xs.iter().enumerate().take_while(|(_, &x)| x < 0.999) {
        let f = beta_cdf(0.2, 0.2, x);
        d = d.max(f - i as f64 / n).max((i + 1) as f64 / n - f);
    }
    let en = n.sqrt();
    let p = q_ks((en + 0.12 + 0.11 / en) * d);
    assert!(p > 0.001, "D {d}, p {p}");
    let at_one = xs.iter().filter(|&&x| x == 1.0).count() as f64 / n;
    assert!(at_one < 0.03, "{at_one}");
}

#[test]
fn partners_are_uniform() {
    // Partner position j of row i over many batches: chi-square over the B × B table, which a
    // uniform random permutation fills evenly ((B − 1)² degrees of freedom).
    let b = 8;
    let steps = 20_000u64;
    let m = Mixup::new(1.0);
    let mut counts = vec![0u64; b * b];
    for step in 0..steps {
        let out = m.apply(batch(step, b, 1, 0), &mut for_stage(4, 0, step)).unwrap();
        for (i, rb) in out.provenance.row_b.iter().enumerate() {
            counts[i * b + (rb.unwrap() - 1000) as usize] += 1;
        }
    }
    let e = steps as f64 / b as f64;
    let chi2: f64 = counts.iter().map(|&o| (o as f64 - e).powi(2) / e).sum();
    let k = ((b - 1) * (b - 1)) as f64;
    // Wilson–Hilferty: z ≈ N(0, 1) under uniformity.
    let z = ((chi2 / k).powf(1.0 / 3.0) - (1.0 - 2.0 / (9.0 * k))) / (2.0 / (9.0 * k)).sqrt();
    assert!(z < 3.09, "chi² {chi2:.1} on {k} dof (z = {z:.2}) {counts:?}");
    assert!(z > -3.09, "suspiciously even: chi² {chi2:.1} on {k} dof");
}

// ---------------------------------------------------------------- CutMix

fn cutmix_batch(step: u64, n: usize, h: usize, w: usize, c: usize) -> Batch {
    // Every value distinct across rows, so each pixel reveals which row it came from.
    let x = Array2::from_shape_fn((n, h * w * c), |(i, j)| (i * h * w * c + j) as f32);
    let y = Array2::from_shape_fn((n, 3), |(i, j)| (i % 3 == j) as u8 as f32);
    Batch::new(step, x, Some(y), (1000..1000 + n as u64).collect()).unwrap()
}

/// Check a CutMix output: outside one box row i is itself, inside it is its partner; λ is the
/// unpasted fraction; targets are mixed with λ. Returns the box areas.
fn check_cutmix(src: &Batch, out: &Batch, h: usize, w: usize, c: usize) -> Vec<usize> {
    let mut areas = Vec::new();
    for i in 0..out.rows() {
        let (Some(rb), Some(l)) = (out.provenance.row_b[i], out.provenance.lambda[i]) else {
            continue;
        };
        let j = (rb - 1000) as usize;
        let (mut ys, mut xs, mut pasted) = (Vec::new(), Vec::new(), 0usize);
        for y in 0..h {
            for x in 0..w {
                let px = (y * w + x) * c;
                let own = (0..c).all(|k| out.features[[i, px + k]] == src.features[[i, px + k]]);
                let other = (0..c).all(|k| out.features[[i, px + k]] == src.features[[j, px + k]]);
                assert!(own || other, "row {i} pixel ({y}, {x}) is neither source");
                if other && i != j {
                    pasted += 1;
                    ys.push(y);
                    xs.push(x);
                }
            }
        }
        if i == j {
            continue;
        }
        if pasted > 0 {
            // The pasted pixels form exactly one rectangle.
            let (y0, y1) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap() + 1);
            let (x0, x1) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap() + 1);
            assert_eq!(pasted, (y1 - y0) * (x1 - x0), "row {i}: pasted region is not a box");
        }
        let unpasted = 1.0 - pasted as f64 / (h * w) as f64;
        assert!((l as f64 - unpasted).abs() < 1e-6, "row {i}: λ {l} vs unpasted {unpasted}");
        let (st, ot) = (src.targets.as_ref().unwrap(), out.targets.as_ref().unwrap());
        for k in 0..3 {
            let want = st[[i, k]] * l + st[[j, k]] * (1.0 - l);
            assert!((ot[[i, k]] - want).abs() < 1e-6);
        }
        assert!((ot.row(i).sum() - 1.0).abs() < 1e-6);
        areas.push(pasted);
    }
    areas
}

#[test]
fn cutmix_pastes_the_partner_box_in_every_mode() {
    let (h, w, c) = (9, 7, 3);
    for mode in [MixMode::Elem, MixMode::Batch, MixMode::Pair] {
        let m = Mixup::new(0.0).cutmix(1.0).feature_shape(&[h, w, c]).mode(mode);
        let mut total = 0;
        for step in 0..30 {
            let src = cutmix_batch(step, 10, h, w, c);
            let out = m.apply(src.clone(), &mut for_stage(6, 0, step)).unwrap();
            let areas = check_cutmix(&src, &out, h, w, c);
            if mode == MixMode::Batch {
                let ls: Vec<_> = out.provenance.lambda.iter().collect();
                assert!(ls.windows(2).all(|p| p[0] == p[1]), "one λ per batch");
            }
            total += areas.iter().sum::<usize>();
        }
        assert!(total > 0, "{mode:?}: some pixels must have been pasted");
    }
}

#[test]
fn mixup_and_cutmix_switch() {
    let (h, w, c) = (4, 4, 1);
    let m = Mixup::new(0.5).cutmix(1.0).switch_prob(0.5).feature_shape(&[h, w, c]);
    let (mut cut, mut mix) = (0, 0);
    for step in 0..400 {
        let src = cutmix_batch(step, 6, h, w, c);
        let out = m.apply(src.clone(), &mut for_stage(8, 0, step)).unwrap();
        // A CutMix output holds only source values (integers here); Mixup blends them.
        if out.features.iter().all(|v| v.fract() == 0.0) {
            cut += 1;
            check_cutmix(&src, &out, h, w, c);
        } else {
            mix += 1;
            recompute(&src, &out, 0.0);
        }
    }
    assert!(cut > 150 && mix > 150, "cutmix {cut}, mixup {mix}");
}

// ---------------------------------------------------------------- convex combinations

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn outputs_are_convex_combinations(
        n in 1usize..24,
        f in 1usize..6,
        vals in proptest::collection::vec(-1.0e3f32..1.0e3, 24 * 6),
        alpha in 0.01f64..5.0,
        mode in 0usize..3,
        seed in any::<u64>(),
    ) {
        let x = Array2::from_shape_fn((n, f), |(i, j)| vals[i * f + j]);
        let src = Batch::new(0, x, None, (0..n as u64).collect()).unwrap();
        let mode = [MixMode::Elem, MixMode::Batch, MixMode::Pair][mode];
        let out = Mixup::new(alpha).mode(mode).apply(src.clone(), &mut for_stage(seed, 0, 0)).unwrap();
        for i in 0..n {
            let j = out.provenance.row_b[i].map_or(i, |b| b as usize);
            for k in 0..f {
                let (a, b) = (src.features[[i, k]], src.features[[j, k]]);
                let tol = 1e-6 * a.abs().max(b.abs());
                let v = out.features[[i, k]];
                prop_assert!(v >= a.min(b) - tol && v <= a.max(b) + tol, "row {} col {}: {} not in [{}, {}]", i, k, v, a, b);
            }
        }
    }
}
