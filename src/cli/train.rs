//! `shardmix train vae|gan`: train a generative model on Parquet data, fed by the pipeline
//! (the library's [`shardmix::nn::train`]).

use std::path::PathBuf;

use indicatif::ProgressBar;
use shardmix::nn::train::{default_min_steps, train_with_stop, Kind, TrainEvent, TrainOptions};
use shardmix::Result;

use super::args::PipelineArgs;

/// Arguments of `train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The model to train.
    #[arg(value_enum)]
    pub kind: Kind,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Where to save the model (safetensors); rewritten atomically after every epoch.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Latent size [default: 16].
    #[arg(long, value_name = "N")]
    pub latent: Option<usize>,
    /// Hidden layer widths, comma separated [default: 128].
    #[arg(long, value_name = "W,W")]
    pub hidden: Option<String>,
    /// Learning rate [default: 1e-3 for the VAE, 3e-4 for the GAN].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// Feature scale: unit (data in [0, 1]: BCE, sigmoid output), real (standardised, MSE), or
    /// auto (unit when every value lies in [0, 1]) [default: auto].
    #[arg(long, value_name = "SCALE")]
    pub scale: Option<String>,
    /// Hold out this fraction of the rows for validation: a split by row id, seeded by
    /// --seed, that training never sees (not even as a Mixup partner). The held-out loss
    /// (the VAE's negative ELBO, the GAN's D and G losses) is printed before training, after
    /// every epoch and at the end [default: 0, nothing held out].
    #[arg(long, value_name = "FRACTION")]
    pub holdout: Option<f64>,
}

/// A progress bar as the sink of training events: notes always, progress lines unless
/// `quiet`, steps and the epoch status on the bar (created at the start).
pub fn bar_events(bar: &mut Option<ProgressBar>, quiet: bool) -> impl FnMut(TrainEvent) + '_ {
    move |e| match e {
        TrainEvent::Note(line) => match bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        },
        TrainEvent::Info(line) if !quiet => match bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        },
        TrainEvent::Start(total) => *bar = Some(super::progress::bar(total, "steps", quiet)),
        TrainEvent::Step => {
            if let Some(b) = bar {
                b.inc(1)
            }
        }
        TrainEvent::Status(msg) => {
            if let Some(b) = bar {
                b.set_message(msg)
            }
        }
        // Events added later are not shown.
        _ => {}
    }
}

pub fn run(mut args: TrainArgs, quiet: bool) -> Result<()> {
    // Augmentation is off unless asked for: the model learns the data as it is.
    args.pipeline.mixup_alpha.get_or_insert(0.0);
    let merged = args.pipeline.merged()?;
    let settings = merged.settings(None)?;
    let options = TrainOptions {
        min_steps: default_min_steps(&merged),
        out: args.out,
        latent: args.latent,
        hidden: args.hidden,
        lr: args.lr,
        scale: args.scale,
        holdout: args.holdout,
    };
    let mut bar = None;
    let stop = super::interrupt::token();
    let summary = train_with_stop(args.kind, &settings, &options, &stop, &mut bar_events(&mut bar, quiet))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    eprintln!("{}", summary.message());
    Ok(())
}
