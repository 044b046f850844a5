//! `shardmix demo`: the main job on the bundled digits. Trains a conditional VAE and GAN on
//! a small training split, then one small classifier three ways — real data only, with Mixup,
//! with Mixup plus VAE/GAN injection — each from several seeds, and prints the held-out
//! accuracy as mean ± spread, the paired gains over real data, rows/s and time.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use ndarray::Array2;
use parquet::arrow::ArrowWriter;
use shardmix::nn::{Classifier, ClassifierConfig, DataScale};
use shardmix::{Error, Features, Generator, Inject, Mixup, Order, Pipeline, Result, ShardSet, Stage, Target};

use super::args::{MixupArgs, PipelineArgs};
use shardmix::nn::train::{fit, Kind, Model, TrainEvent};

/// Arguments of `demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// The digits data [default: examples/data/digits.parquet].
    #[arg(long, value_name = "PATH")]
    pub data: Option<std::path::PathBuf>,
    /// Fraction of the rows used for training (the rest is held out) [default: 0.2].
    #[arg(long, value_name = "F")]
    pub train_fraction: Option<f64>,
    /// Epochs of the classifier [default: 200].
    #[arg(long, value_name = "E")]
    pub epochs: Option<u64>,
    /// Epochs of the VAE and the GAN [default: 1000].
    #[arg(long, value_name = "E")]
    pub generator_epochs: Option<u64>,
    /// Mixup α [default: 0.2, the seed's].
    #[arg(long, value_name = "A")]
    pub mixup_alpha: Option<f64>,
    /// The other Mixup/CutMix flags, as for `augment` and `stream`.
    #[command(flatten)]
    pub mixup: MixupArgs,
    /// Fraction of each batch replaced by CVAE samples [default: 0.25].
    #[arg(long, value_name = "F")]
    pub vae_fraction: Option<f64>,
    /// Fraction of each batch replaced by GAN samples [default: 0.1].
    #[arg(long, value_name = "F")]
    pub gan_fraction: Option<f64>,
    /// Seed [default: 0]. The generators are trained once, from this seed; the classifier of
    /// each way is trained from seeds S, S+1, … (see --repeats).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Classifier runs per way, one per seed, so that the table's differences can be told from
    /// seed noise [default: 5].
    #[arg(long, value_name = "N")]
    pub repeats: Option<u64>,
    /// Worker threads [default: available cores].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
}

/// The held-out rows.
struct HeldOut {
    x: Array2<f32>,
    labels: Vec<usize>,
}

/// One line of the result table: the runs of one way, one per seed.
struct Row {
    name: &'static str,
    /// Held-out accuracy of each run, in seed order.
    accuracy: Vec<f32>,
    /// Rows trained on, over all runs.
    rows: u64,
    /// Training time, over all runs.
    secs: f64,
}

/// Mean, sample standard deviation, min and max of `xs` (not empty).
fn spread(xs: &[f32]) -> (f64, f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    let min = xs.iter().fold(f64::INFINITY, |m, &x| m.min(x as f64));
    let max = xs.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
    (mean, var.sqrt(), min, max)
}

pub fn run(args: DemoArgs, quiet: bool) -> Result<()> {
    let data = args.data.clone().unwrap_or_else(super::bundled_data);
    let seed = args.seed.unwrap_or(0);
    let fraction = args.train_fraction.unwrap_or(0.2);
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::config("train_fraction", format!("{fraction} is not within (0, 1)")));
    }
    let started = Instant::now();
    // Validate the Mixup flags and every other number before any training.
    mixup(&args, args.mixup_alpha.unwrap_or(0.2))?;
    PipelineArgs {
        epochs: args.epochs,
        seed: args.seed,
        workers: args.workers,
        vae_fraction: args.vae_fraction,
        gan_fraction: args.gan_fraction,
        ..Default::default()
    }
    .settings(Some(Path::new("unused")))?;
    if args.generator_epochs == Some(0) {
        return Err(Error::config("generator_epochs", "must be at least 1, got 0"));
    }
    let repeats = args.repeats.unwrap_or(5);
    if !(1..=1000).contains(&repeats) {
        return Err(Error::config("repeats", format!("must be within 1..=1000, got {repeats}")));
    }
    let full = ShardSet::open(&data)?.features(Features::prefix("p"))?.target(Target::class("label", 10))?;
    let tmp = tempdir()?;
    let train_path = tmp.join("train.parquet");
    let (held_out, n_train) = split(&full, fraction, seed, &train_path)?;
    let train = ShardSet::open(&train_path)?.features(Features::prefix("p"))?.target(Target::class("label", 10))?;
    eprintln!(
        "digits: {} rows → {} for training, {} held out ({}); 64 features in [0, 1], 10 classes",
        full.num_rows(),
        n_train,
        held_out.labels.len(),
        data.display()
    );

    // 1. The generative models, trained on the training split through the pipeline.
    let gen_epochs = args.generator_epochs.unwrap_or(1000);
    let vae = train_generator(Kind::Vae, &train, seed, gen_epochs, &tmp.join("cvae.safetensors"), quiet)?;
    let gan = train_generator(Kind::Gan, &train, seed, gen_epochs, &tmp.join("cgan.safetensors"), quiet)?;

    // 2. The classifier, three ways.
    let epochs = args.epochs.unwrap_or(200);
    let alpha = args.mixup_alpha.unwrap_or(0.2);
    let vae_fraction = args.vae_fraction.unwrap_or(0.25);
    let gan_fraction = args.gan_fraction.unwrap_or(0.1);
    let ways: Vec<(&'static str, Vec<Arc<dyn Stage>>)> = vec![
        ("real data only", vec![]),
        ("+ Mixup", vec![Arc::new(mixup(&args, alpha)?)]),
        (
            "+ CVAE/GAN injection + Mixup",
            vec![
                Arc::new(Inject::replace(vae.clone(), vae_fraction)),
                Arc::new(Inject::replace(gan.clone(), gan_fraction)),
                Arc::new(mixup(&args, alpha)?),
            ],
        ),
    ];
    let mut rows = Vec::new();
    let mut real_classifier = None;
    for (name, stages) in ways {
        let mut row = Row { name, accuracy: Vec::new(), rows: 0, secs: 0.0 };
        for k in 0..repeats {
            let run_seed = seed.wrapping_add(k);
            let (clf, accuracy, n, secs) =
                train_classifier(name, &train, stages.clone(), epochs, run_seed, args.workers, &held_out, quiet)?;
            if real_classifier.is_none() {
                real_classifier = Some(clf);
            }
            row.accuracy.push(accuracy);
            row.rows += n;
            row.secs += secs;
        }
        rows.push(row);
    }

    // 3. How recognisable the conditional samples are to the classifier trained on real data.
    let mut recognised = Vec::new();
    if let Some(clf) = &real_classifier {
        for (name, g) in [("CVAE", &vae), ("GAN", &gan)] {
            recognised.push((name, recognition(clf, g.as_ref(), seed)?));
        }
    }
    let mut out = String::new();
    let seeds = if repeats == 1 {
        format!("seed {seed}")
    } else {
        format!("seeds {seed}..={}", seed.wrapping_add(repeats - 1))
    };
    out.push_str(&format!(
        "\nheld-out accuracy of a 64-64-10 MLP trained {epochs} epochs on {n_train} digits (batch 32, shuffled, Mixup α = {alpha}, VAE {vae_fraction}, GAN {gan_fraction}), {repeats} run(s) per way ({seeds}): mean ± standard deviation (min–max)\n\n"
    ));
    out.push_str(&format!("  {:<30} {:>24} {:>12} {:>9}\n", "training data", "accuracy", "rows/s", "time"));
    for r in &rows {
        let (mean, sd, min, max) = spread(&r.accuracy);
        out.push_str(&format!(
            "  {:<30} {:>24} {:>12.0} {:>8.2}s\n",
            r.name,
            format!("{:.1} ± {:.1}% ({:.1}–{:.1})", 100.0 * mean, 100.0 * sd, 100.0 * min, 100.0 * max),
            r.rows as f64 / r.secs.max(1e-9),
            r.secs
        ));
    }
    // The same seeds run every way, so the per-seed differences are paired: their spread is
    // the noise that a gain must clear.
    if let Some((base, others)) = rows.split_first() {
        out.push('\n');
        for r in others {
            let gains: Vec<f32> = r.accuracy.iter().zip(&base.accuracy).map(|(a, b)| a - b).collect();
            let (mean, sd, min, max) = spread(&gains);
            out.push_str(&format!(
                "  {} vs {}: {:+.1} ± {:.1} points, paired over the seeds ({:+.1} to {:+.1})\n",
                r.name,
                base.name,
                100.0 * mean,
                100.0 * sd,
                100.0 * min,
                100.0 * max
            ));
        }
    }
    out.push('\n');
    for (name, acc) in recognised {
        out.push_str(&format!(
            "  {name} samples recognised as their requested class by the real-data classifier: {:.1}%\n",
            100.0 * acc
        ));
    }
    out.push_str(&format!("\ndone in {:.1} s\n", started.elapsed().as_secs_f64()));
    super::write_stdout(&out)
}

/// A scratch directory removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<Scratch> {
    let dir = std::env::temp_dir().join(format!("shardmix-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(Scratch(dir))
}

/// Write a random `fraction` of the rows to `train_path`; keep the rest in memory.
fn split(full: &ShardSet, fraction: f64, seed: u64, train_path: &Path) -> Result<(HeldOut, usize)> {
    let n = full.num_rows() as usize;
    let all = full.read_rows(0..n as u64)?;
    let classes = all.classes().ok_or_else(|| Error::config("label", "the demo needs the label column"))?;
    let order = shardmix::rng::permutation(&mut shardmix::rng::derive(seed, 0xDE40, 0), n);
    let n_train = ((n as f64) * fraction).round().max(1.0) as usize;
    let (train_ids, test_ids) = order.split_at(n_train);
    let f = all.num_features();
    let names = full.spec().feature_names();
    let mut cols: Vec<ArrayRef> = (0..f)
        .map(|j| Arc::new(Float32Array::from_iter_values(train_ids.iter().map(|&i| all.features[[i, j]]))) as ArrayRef)
        .collect();
    cols.push(Arc::new(Int64Array::from_iter_values(train_ids.iter().map(|&i| classes[i] as i64))));
    let mut fields: Vec<Field> = names.iter().map(|n| Field::new(n, DataType::Float32, false)).collect();
    fields.push(Field::new("label", DataType::Int64, false));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| shardmix::ErrorKind::Arrow { context: "building the training split".into(), source: e })?;
    let file = std::fs::File::create(train_path).map_err(|e| Error::io(train_path, e))?;
    let write = |e: parquet::errors::ParquetError| {
        Error::from(shardmix::ErrorKind::Write { path: train_path.to_path_buf(), source: e })
    };
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).map_err(write)?;
    w.write(&batch).map_err(write)?;
    w.close().map_err(write)?;
    let x = Array2::from_shape_fn((test_ids.len(), f), |(r, j)| all.features[[test_ids[r], j]]);
    let labels = test_ids.iter().map(|&i| classes[i]).collect();
    Ok((HeldOut { x, labels }, n_train))
}

fn train_generator(
    kind: Kind,
    train: &ShardSet,
    seed: u64,
    epochs: u64,
    out: &Path,
    quiet: bool,
) -> Result<Arc<dyn Generator>> {
    let mut model = Model::new(kind, train, seed, None, None, None, DataScale::Unit)?;
    let mut pipeline =
        Pipeline::builder().source(train.clone()).order(Order::shuffled(64)).seed(seed).epochs(epochs).build()?;
    let what = match kind {
        Kind::Vae => "CVAE",
        Kind::Gan => "GAN",
    };
    let bar = super::progress::bar(pipeline.total_steps(), what, quiet);
    let t = Instant::now();
    let mut on_event = |e: TrainEvent| match e {
        TrainEvent::Step => bar.inc(1),
        TrainEvent::Status(msg) => bar.set_message(msg),
        _ => {}
    };
    let last = fit(&mut model, &mut pipeline, &mut on_event, |_, _| Ok(()))?;
    bar.finish_and_clear();
    model.save(out)?;
    eprintln!(
        "trained the conditional {what} for {epochs} epochs in {:.2} s ({:.0} rows/s): {} {:.3}, {} {:.3}",
        t.elapsed().as_secs_f64(),
        pipeline.stats().rows as f64 / t.elapsed().as_secs_f64().max(1e-9),
        last[0].0,
        last[0].1,
        last[1].0,
        last[1].1
    );
    shardmix::nn::load_generator(out)
}

#[allow(clippy::too_many_arguments)]
fn train_classifier(
    name: &'static str,
    train: &ShardSet,
    stages: Vec<Arc<dyn Stage>>,
    epochs: u64,
    seed: u64,
    workers: Option<usize>,
    held_out: &HeldOut,
    quiet: bool,
) -> Result<(Classifier, f32, u64, f64)> {
    let mut clf = Classifier::new(ClassifierConfig::new(train.spec().num_features(), 10), seed)?;
    let mut b = Pipeline::builder().source(train.clone()).order(Order::shuffled(32)).seed(seed).epochs(epochs);
    if let Some(w) = workers {
        b = b.workers(w);
    }
    for s in stages {
        b = b.stage_arc(s);
    }
    let mut pipeline = b.build()?;
    let bar = super::progress::bar(pipeline.total_steps(), "classify", quiet);
    bar.set_message(name);
    let t = Instant::now();
    let mut rows = 0u64;
    for batch in pipeline.by_ref() {
        let batch = batch?;
        rows += batch.rows() as u64;
        clf.train_step(&batch)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    let accuracy = clf.accuracy(&held_out.x, &held_out.labels)?;
    Ok((clf, accuracy, rows, secs))
}

/// Share of 1,000 conditional samples (100 per class) that `clf` assigns to the requested class.
fn recognition(clf: &Classifier, g: &dyn Generator, seed: u64) -> Result<f32> {
    let classes: Vec<usize> = (0..1000).map(|i| i % 10).collect();
    let x = g.generate(Some(&classes), classes.len(), &mut shardmix::rng::derive(seed, 0xDE41, 0))?;
    clf.accuracy(&x, &classes)
}

/// The Mixup stage from the demo's flags (the same flags and defaults as `augment`/`stream`).
fn mixup(args: &DemoArgs, alpha: f64) -> Result<Mixup> {
    let settings = PipelineArgs { mixup_alpha: Some(alpha), mixup: args.mixup.clone(), ..Default::default() }
        .settings(Some(Path::new("unused")))?;
    Ok(settings.mixup()?.unwrap_or(Mixup::new(0.0)))
}
