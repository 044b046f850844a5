//! Saving and loading models as [safetensors](https://huggingface.co/docs/safetensors).
//!
//! # File layout
//!
//! A model file holds `F32` tensors named after PyTorch modules and, in the safetensors
//! header's `__metadata__`, three strings:
//!
//! * `format`: `"pt"` (so Hugging Face tooling treats it as a PyTorch state dict);
//! * `shardmix.kind`: `"vae"` or `"gan"`;
//! * `shardmix.architecture`: the [`Architecture`] as JSON, e.g.
//!   `{"version":1,"kind":"vae","num_features":64,"num_classes":10,"latent_dim":16,"scale":"unit",
//!   "mean":null,"std":null,"feature_names":null,"networks":[{"name":"encoder","module":"sequential",
//!   "sizes":[74,128],"activations":["relu"]}, …]}`.
//!
//! Each network is an `nn.Sequential` whose `i`-th `nn.Linear` sits at index `2i`, followed
//! by its activation at `2i + 1` (a final identity is left out), or a bare `nn.Linear`
//! (`"module":"linear"`). Weights are `[out, in]`, biases `[out]`, as `nn.Linear` stores them.
//!
//! **VAE** (`C` = number of classes, 0 when unconditional; `F` features; `L` latent size;
//! hidden sizes `H…`):
//!
//! | tensor | shape |
//! |---|---|
//! | `encoder.{2i}.weight`, `encoder.{2i}.bias` | input `F + C` (features ⊕ one-hot class) → `H…`, an activation after every layer |
//! | `fc_mu.weight`, `fc_mu.bias` | `[L, H_last]`, `[L]` |
//! | `fc_logvar.weight`, `fc_logvar.bias` | `[L, H_last]`, `[L]` |
//! | `decoder.{2i}.weight`, `decoder.{2i}.bias` | input `L + C` (z ⊕ one-hot) → `…H` → `F`, sigmoid last for `"scale":"unit"` |
//!
//! ```python
//! class Vae(nn.Module):                      # F=64, C=10, hidden=[128], L=16
//!     def __init__(self):
//!         super().__init__()
//!         self.encoder = nn.Sequential(nn.Linear(64 + 10, 128), nn.ReLU())
//!         self.fc_mu = nn.Linear(128, 16)
//!         self.fc_logvar = nn.Linear(128, 16)
//!         self.decoder = nn.Sequential(nn.Linear(16 + 10, 128), nn.ReLU(),
//!                                      nn.Linear(128, 64), nn.Sigmoid())
//! ```
//!
//! **GAN**:
//!
//! | tensor | shape |
//! |---|---|
//! | `generator.{2i}.weight`, `.bias` | `L + C` → `H…` → `F` (sigmoid last for `"unit"`, none for `"real"`) |
//! | `discriminator.{2i}.weight`, `.bias` | `F + C` → `H…` → `1` (a logit; no final activation) |
//!
//! ```python
//! class Gan(nn.Module):                      # F=64, unconditional, L=16
//!     def __init__(self):
//!         super().__init__()
//!         self.generator = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 64), nn.Sigmoid())
//!         self.discriminator = nn.Sequential(nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))
//! ```
//!
//! A PyTorch model with this layout loads after
//! `safetensors.torch.save_file(model.state_dict(), path, metadata={"shardmix.kind": "vae",
//! "shardmix.architecture": json.dumps(arch)})`. With `"scale":"real"`, `mean` and `std`
//! (one per feature) standardise the data: the networks see `(x − mean) / std`, and samples
//! are returned as `x̂·std + mean`.
//!
//! Loading checks every tensor's presence, dtype and shape against the architecture and
//! names the first that does not fit; files are written to a temporary file in the same
//! directory, synced, then renamed over the target.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::nn::activation::Activation;
use crate::nn::linear::Linear;
use crate::nn::mlp::Mlp;
use crate::nn::scale::{DataScale, Standardization};

/// Metadata key holding the model kind.
pub const KIND_KEY: &str = "shardmix.kind";
/// Metadata key holding the [`Architecture`] JSON.
pub const ARCHITECTURE_KEY: &str = "shardmix.architecture";
/// The architecture format version written.
pub const FORMAT_VERSION: u32 = 1;

/// Which generative model a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A (conditional) variational auto-encoder.
    Vae,
    /// A (conditional) generative adversarial network.
    Gan,
}

impl ModelKind {
    /// `vae` or `gan`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Vae => "vae",
            ModelKind::Gan => "gan",
        }
    }
}

/// How a network is stored: an `nn.Sequential` or one bare `nn.Linear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Module {
    /// Linear `i` at `{name}.{2i}`, its activation at `{name}.{2i+1}`.
    Sequential,
    /// One linear layer at `{name}`.
    Linear,
}

/// One network of a model: its name (the tensor prefix), widths and activations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// `encoder`, `fc_mu`, `fc_logvar`, `decoder`, `generator`, `discriminator`.
    pub name: String,
    /// Sequential or a single linear layer.
    pub module: Module,
    /// Layer widths, input first.
    pub sizes: Vec<usize>,
    /// The activation after each layer (`sizes.len() − 1` of them).
    pub activations: Vec<Activation>,
}

impl Network {
    /// The tensor-name prefix of layer `i` (`decoder.2`, `fc_mu`).
    pub fn layer_prefix(&self, i: usize) -> String {
        match self.module {
            Module::Sequential => format!("{}.{}", self.name, 2 * i),
            Module::Linear => self.name.clone(),
        }
    }

    pub(crate) fn of(name: &str, module: Module, mlp: &Mlp) -> Network {
        Network { name: name.into(), module, sizes: mlp.sizes(), activations: mlp.activations().to_vec() }
    }
}

/// Everything needed to rebuild a model, stored as JSON in the file's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// VAE or GAN.
    pub kind: ModelKind,
    /// Features per row.
    pub num_features: usize,
    /// Classes conditioned on (`None`: unconditional).
    pub num_classes: Option<usize>,
    /// Latent size.
    pub latent_dim: usize,
    /// Data scale.
    pub scale: DataScale,
    /// Per-feature means (`scale = real`).
    pub mean: Option<Vec<f32>>,
    /// Per-feature standard deviations (`scale = real`).
    pub std: Option<Vec<f32>>,
    /// Feature column names, when known.
    pub feature_names: Option<Vec<String>>,
    /// The networks, in the order documented in the [module docs](self).
    pub networks: Vec<Network>,
}

impl Architecture {
    /// The network called `name`.
    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// The standardisation, for `scale = real`.
    pub(crate) fn standardization(&self) -> Result<Option<Standardization>, String> {
        match (self.scale, &self.mean, &self.std) {
            (DataScale::Unit, _, _) => Ok(None),
            (DataScale::Real, Some(m), Some(s)) => {
                if m.len() != self.num_features || s.len() != self.num_features {
                    return Err(format!(
                        "mean/std have {}/{} values for {} features",
                        m.len(),
                        s.len(),
                        self.num_features
                    ));
                }
                Standardization::new(m.clone(), s.clone()).map(Some).map_err(|e| e.to_string())
            }
            (DataScale::Real, _, _) => Err("scale \"real\" needs `mean` and `std`".into()),
        }
    }

    /// Check internal consistency: widths chain, match the feature/class/latent counts,
    /// and the expected networks are present. Returns a message naming what does not fit.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.version != FORMAT_VERSION {
            return Err(format!("architecture version {} is not supported (expected {FORMAT_VERSION})", self.version));
        }
        let (f, l) = (self.num_features, self.latent_dim);
        if f == 0 || l == 0 || self.num_classes == Some(0) {
            return Err("num_features, latent_dim and num_classes must be at least 1".into());
        }
        let c = self.num_classes.unwrap_or(0);
        if let Some(names) = &self.feature_names {
            if names.len() != f {
                return Err(format!("{} feature_names for {f} features", names.len()));
            }
        }
        self.standardization()?;
        let expected: &[&str] = match self.kind {
            ModelKind::Vae => &["encoder", "fc_mu", "fc_logvar", "decoder"],
            ModelKind::Gan => &["generator", "discriminator"],
        };
        for net in &self.networks {
            if !expected.contains(&net.name.as_str()) {
                return Err(format!(
                    "unexpected network '{}' for a {} (expected {expected:?})",
                    net.name,
                    self.kind.as_str()
                ));
            }
            if net.sizes.len() < 2 || net.activations.len() + 1 != net.sizes.len() {
                return Err(format!(
                    "network '{}': {} sizes need {} activations, found {}",
                    net.name,
                    net.sizes.len(),
                    net.sizes.len().saturating_sub(1),
                    net.activations.len()
                ));
            }
            if net.sizes.contains(&0) {
                return Err(format!("network '{}': a layer width is 0", net.name));
            }
            if net.module == Module::Linear && net.sizes.len() != 2 {
                return Err(format!("network '{}': a linear module has exactly one layer", net.name));
            }
            for a in &net.activations {
                a.validate(&net.name).map_err(|e| e.to_string())?;
            }
        }
        let get = |name: &str| self.network(name).ok_or_else(|| format!("network '{name}' is missing"));
        let io = |net: &Network, input: usize, output: usize| -> Result<(), String> {
            let (i, o) = (net.sizes[0], net.sizes[net.sizes.len() - 1]);
            if i != input || o != output {
                return Err(format!("network '{}' maps {i} → {o}, expected {input} → {output}", net.name));
            }
            Ok(())
        };
        match self.kind {
            ModelKind::Vae => {
                let enc = get("encoder")?;
                let h = enc.sizes[enc.sizes.len() - 1];
                io(enc, f + c, h)?;
                for head in ["fc_mu", "fc_logvar"] {
                    let n = get(head)?;
                    io(n, h, l)?;
                    if n.module != Module::Linear || n.activations != [Activation::Identity] {
                        return Err(format!("network '{head}' must be a single linear layer without activation"));
                    }
                }
                let dec = get("decoder")?;
                io(dec, l + c, f)?;
                if self.scale == DataScale::Unit && dec.activations.last() != Some(&Activation::Sigmoid) {
                    return Err(
                        "a VAE for data in [0, 1] (scale \"unit\") needs a sigmoid after the decoder's last layer"
                            .into(),
                    );
                }
            }
            ModelKind::Gan => {
                io(get("generator")?, l + c, f)?;
                let d = get("discriminator")?;
                io(d, f + c, 1)?;
                if d.activations.last() != Some(&Activation::Identity) {
                    return Err("the discriminator must end in a logit (no final activation)".into());
                }
            }
        }
        if self.networks.len() != expected.len() {
            return Err(format!("expected networks {expected:?}, found {} entries", self.networks.len()));
        }
        Ok(())
    }
}

fn model_err(path: &Path, message: impl Into<String>) -> Error {
    ErrorKind::Model { path: path.to_path_buf(), message: message.into() }.into()
}

/// Write `arch` and the layers of each network (in `arch.networks` order) to `path`,
/// through a temporary file renamed into place.
pub(crate) fn save(path: &Path, arch: &Architecture, nets: &[&[Linear]]) -> Result<()> {
    arch.check().map_err(|m| model_err(path, m))?;
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (net, layers) in arch.networks.iter().zip(nets) {
        for (i, layer) in layers.iter().enumerate() {
            let prefix = net.layer_prefix(i);
            owned.push((
                format!("{prefix}.weight"),
                vec![layer.outputs(), layer.inputs()],
                to_bytes(layer.weight().iter()),
            ));
            owned.push((format!("{prefix}.bias"), vec![layer.outputs()], to_bytes(layer.bias().iter())));
        }
    }
    let mut views = Vec::with_capacity(owned.len());
    for (name, shape, bytes) in &owned {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| model_err(path, format!("tensor '{name}': {e}")))?;
        views.push((name.clone(), view));
    }
    let json = serde_json::to_string(arch).map_err(|e| model_err(path, format!("architecture to JSON: {e}")))?;
    let meta = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (KIND_KEY.to_string(), arch.kind.as_str().to_string()),
        (ARCHITECTURE_KEY.to_string(), json),
    ]);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| model_err(path, format!("serialising: {e}")))?;
    let bytes = canonical_header(bytes).map_err(|e| model_err(path, format!("serialising: {e}")))?;
    write_atomic(path, &bytes)
}

/// `bytes` (a safetensors file) with its JSON header's keys in sorted order. safetensors
/// serialises the `__metadata__` map from a `HashMap`, whose order differs per process, so the
/// same model would give different files; the tensors' data offsets are relative to the end
/// of the header, so only the header and its length prefix change.
fn canonical_header(bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let prefix: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or("no header length")?;
    let len = usize::try_from(u64::from_le_bytes(prefix)).map_err(|e| e.to_string())?;
    let header = bytes.get(8..8 + len).ok_or("header longer than the file")?;
    let parsed: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let sorted: BTreeMap<&String, serde_json::Value> = parsed
        .iter()
        .map(|(k, v)| {
            let v = match v.as_object() {
                Some(map) => serde_json::to_value(map.iter().collect::<BTreeMap<_, _>>()).unwrap_or_else(|_| v.clone()),
                None => v.clone(),
            };
            (k, v)
        })
        .collect();
    let mut json = serde_json::to_vec(&sorted).map_err(|e| e.to_string())?;
    // The data that follows stays aligned to 8 bytes, as safetensors pads it.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - len);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + len..]);
    Ok(out)
}

fn to_bytes<'a>(values: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    values.flat_map(|v| v.to_le_bytes()).collect()
}

/// Write `bytes` to a temporary sibling of `path`, sync it, rename it over `path`, and
/// sync the directory (best effort).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| model_err(path, "not a file path"))?.to_string_lossy().into_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The tensors of a loaded file, taken one by one with shape checks.
pub(crate) struct Tensors {
    path: PathBuf,
    map: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
}

impl Tensors {
    /// The path the tensors came from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (dtype, found, bytes) = self
            .map
            .remove(name)
            .ok_or_else(|| model_err(&self.path, format!("tensor '{name}' is missing (expected F32 {shape:?})")))?;
        if dtype != Dtype::F32 {
            return Err(model_err(&self.path, format!("tensor '{name}' has dtype {dtype:?}, expected F32")));
        }
        if found != shape {
            return Err(model_err(&self.path, format!("tensor '{name}' has shape {found:?}, expected {shape:?}")));
        }
        let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(model_err(&self.path, format!("tensor '{name}' holds a non-finite value at element {i}")));
        }
        Ok(values)
    }

    fn take_linear(&mut self, prefix: &str, inputs: usize, outputs: usize) -> Result<Linear> {
        let w = self.take(&format!("{prefix}.weight"), &[outputs, inputs])?;
        let b = self.take(&format!("{prefix}.bias"), &[outputs])?;
        let weight = Array2::from_shape_vec((outputs, inputs), w)
            .map_err(|e| model_err(&self.path, format!("tensor '{prefix}.weight': {e}")))?;
        Ok(Linear::from_parts(weight, Array1::from_vec(b)))
    }

    /// Build network `net` from its tensors.
    pub(crate) fn mlp(&mut self, net: &Network) -> Result<Mlp> {
        let mut layers = Vec::with_capacity(net.activations.len());
        for i in 0..net.activations.len() {
            layers.push(self.take_linear(&net.layer_prefix(i), net.sizes[i], net.sizes[i + 1])?);
        }
        Mlp::from_layers(layers, net.activations.clone())
            .map_err(|e| model_err(&self.path, format!("network '{}': {e}", net.name)))
    }

    /// Fail if tensors remain that no network claimed.
    pub(crate) fn finish(self) -> Result<()> {
        if let Some(name) = self.map.keys().next() {
            return Err(model_err(
                &self.path,
                format!("unexpected tensor '{name}' ({} not used by the architecture)", self.map.len()),
            ));
        }
        Ok(())
    }
}

/// Read and check a model file: its architecture (validated) and its tensors.
pub(crate) fn load(path: &Path) -> Result<(Architecture, Tensors)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st =
        SafeTensors::deserialize(&bytes).map_err(|e| model_err(path, format!("not a valid safetensors file: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| model_err(path, format!("not a valid safetensors file: {e}")))?;
    let arch = architecture_from_metadata(path, meta.metadata().as_ref())?;
    let mut map = BTreeMap::new();
    for (name, view) in st.iter() {
        map.insert(name.to_string(), (view.dtype(), view.shape().to_vec(), view.data().to_vec()));
    }
    Ok((arch, Tensors { path: path.to_path_buf(), map }))
}

fn architecture_from_metadata(path: &Path, meta: Option<&HashMap<String, String>>) -> Result<Architecture> {
    let meta = meta.ok_or_else(|| {
        model_err(path, format!("no metadata: a shardmix model needs '{KIND_KEY}' and '{ARCHITECTURE_KEY}'"))
    })?;
    let json = meta
        .get(ARCHITECTURE_KEY)
        .ok_or_else(|| model_err(path, format!("metadata key '{ARCHITECTURE_KEY}' is missing")))?;
    let arch: Architecture = serde_json::from_str(json)
        .map_err(|e| model_err(path, format!("metadata '{ARCHITECTURE_KEY}' is not a valid architecture: {e}")))?;
    if let Some(kind) = meta.get(KIND_KEY) {
        if kind != arch.kind.as_str() {
            return Err(model_err(
                path,
                format!("metadata '{KIND_KEY}' is '{kind}' but the architecture says '{}'", arch.kind.as_str()),
            ));
        }
    }
    arch.check().map_err(|m| model_err(path, format!("metadata '{ARCHITECTURE_KEY}': {m}")))?;
    Ok(arch)
}

/// Read only the [`Architecture`] of a model file (validated).
///
/// # Errors
/// An I/O error, or [`ErrorKind::Model`] when the file is not safetensors or its
/// metadata is missing or inconsistent.
///
/// # Example
/// ```
/// use shardmix::nn::{read_architecture, Vae, VaeConfig, ModelKind};
/// let dir = tempfile::tempdir().map_err(|e| shardmix::Error::io("tmp", e))?;
/// let path = dir.path().join("vae.safetensors");
/// Vae::new(VaeConfig::new(8), 1)?.save(&path)?;
/// let arch = read_architecture(&path)?;
/// assert_eq!((arch.kind, arch.num_features, arch.latent_dim), (ModelKind::Vae, 8, 16));
/// # Ok::<(), shardmix::Error>(())
/// ```
pub fn read_architecture(path: impl AsRef<Path>) -> Result<Architecture> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| model_err(path, format!("not a valid safetensors file: {e}")))?;
    architecture_from_metadata(path, meta.metadata().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny safetensors file whose metadata map is a fresh `HashMap` (its own random order).
    fn serialised(data: &[u8]) -> Vec<u8> {
        let view = TensorView::new(Dtype::F32, vec![2], data).unwrap();
        let meta: HashMap<String, String> = (0..12).map(|i| (format!("key{i}"), format!("value{i}"))).collect();
        safetensors::serialize(vec![("t".to_string(), view)], Some(meta)).unwrap()
    }

    #[test]
    fn the_header_is_the_same_whatever_the_maps_order() {
        let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let raw: Vec<Vec<u8>> = (0..16).map(|_| serialised(&data)).collect();
        assert!(raw.iter().any(|r| r != &raw[0]), "the maps never differed in order: the test shows nothing");
        let canonical: Vec<Vec<u8>> = raw.into_iter().map(|r| canonical_header(r).unwrap()).collect();
        assert!(canonical.iter().all(|c| c == &canonical[0]));
        let parsed = SafeTensors::deserialize(&canonical[0]).unwrap();
        assert_eq!(parsed.tensor("t").unwrap().data(), &data[..]);
        let (_, meta) = SafeTensors::read_metadata(&canonical[0]).unwrap();
        assert_eq!(meta.metadata().as_ref().map(HashMap::len), Some(12));
        assert_eq!((u64::from_le_bytes(canonical[0][..8].try_into().unwrap()) % 8), 0);
    }
}
