//! The local file system as a [`Storage`]: files read with positional reads (`pread`), a file's
//! length checked against the one seen at open.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ByteSource, Changed, Storage};
use crate::error::{Error, Result};

/// One local file, opened once and read with positional reads from any thread.
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl LocalFile {
    /// Open `path` and note its length.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] naming the file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok(LocalFile { path: path.to_path_buf(), file, len })
    }

    /// An already opened `file` of `len` bytes, named `name` in errors (a cached copy of an
    /// object is named by the object's URL).
    #[cfg_attr(not(feature = "object-store"), allow(dead_code))]
    pub(crate) fn from_file(name: PathBuf, file: File, len: u64) -> Self {
        LocalFile { path: name, file, len }
    }

    /// A read that ended early: the file shrank since it was opened ([`Changed`]), or the read
    /// asked for bytes past its end (`UnexpectedEof`).
    fn ended_early(&self, end: u64) -> io::Error {
        match self.file.metadata() {
            Ok(m) if m.len() != self.len => io::Error::other(Changed(format!(
                "{}: the file is now {} bytes, it was {} when opened",
                self.path.display(),
                m.len(),
                self.len
            ))),
            _ => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read up to byte {end} of a {}-byte file", self.len),
            ),
        }
    }
}

impl ByteSource for LocalFile {
    fn name(&self) -> &Path {
        &self.path
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        let end = offset.saturating_add(buf.len() as u64);
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read up to byte {end} of a {}-byte file", self.len),
            ));
        }
        while !buf.is_empty() {
            match read_at(&self.file, buf, offset) {
                Ok(0) => return Err(self.ended_early(end)),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// The local file system: a data spec is a file, a directory (its `*.parquet` files, not
/// hidden ones) or a glob.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStorage;

impl LocalStorage {
    /// [`Storage::list`] for a path (which need not be UTF-8).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] for a path that cannot be read, [`ErrorKind::Config`] for a bad glob.
    pub fn list_path(&self, spec: &Path) -> Result<Vec<PathBuf>> {
        if has_glob_chars(spec) && !spec.exists() {
            let pattern = spec.to_str().unwrap_or_default();
            let paths =
                glob::glob(pattern).map_err(|e| Error::config("data", format!("bad pattern '{pattern}': {e}")))?;
            let mut out = Vec::new();
            for p in paths {
                let p = p.map_err(|e| Error::io(e.path().to_path_buf(), io::Error::other(e.to_string())))?;
                if p.is_file() {
                    out.push(p);
                }
            }
            out.sort();
            return Ok(out);
        }
        let meta = std::fs::metadata(spec).map_err(|e| Error::io(spec, e))?;
        if meta.is_dir() {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(spec).map_err(|e| Error::io(spec, e))? {
                let entry = entry.map_err(|e| Error::io(spec, e))?;
                let p = entry.path();
                let is_parquet = p.extension().is_some_and(|e| e == "parquet");
                let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(['.', '_']));
                if is_parquet && !hidden && p.is_file() {
                    out.push(p);
                }
            }
            out.sort();
            Ok(out)
        } else {
            Ok(vec![spec.to_path_buf()])
        }
    }
}

fn has_glob_chars(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.contains(['*', '?', '[']))
}

impl Storage for LocalStorage {
    fn list(&self, spec: &str) -> Result<Vec<PathBuf>> {
        self.list_path(Path::new(spec))
    }

    fn open(&self, name: &Path) -> Result<Arc<dyn ByteSource>> {
        Ok(Arc::new(LocalFile::open(name)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_are_exact_and_a_changed_length_is_reported() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[1, 2, 3, 4, 5]).unwrap();
        let src = LocalStorage.open(f.path()).unwrap();
        assert_eq!(src.len(), 5);
        let mut buf = [0u8; 3];
        src.read_exact_at(2, &mut buf).unwrap();
        assert_eq!(buf, [3, 4, 5]);
        assert_eq!(src.read_exact_at(3, &mut buf).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let got = src.read_ranges(&[0..2, 4..5]).unwrap();
        assert_eq!((&got[0][..], &got[1][..]), (&[1u8, 2][..], &[5u8][..]));
        // Shrunk under the open file: the read ends early and says the file changed.
        f.as_file().set_len(3).unwrap();
        let err = src.read_exact_at(2, &mut buf).unwrap_err();
        assert!(crate::source::bytes::changed_in(&err).is_some(), "{err}");
    }

    #[test]
    fn a_directory_lists_its_visible_parquet_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.parquet", "a.parquet", ".hidden.parquet", "_meta.parquet", "c.txt"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let spec = dir.path().to_str().unwrap();
        let names = storage_for(spec).unwrap().list(spec).unwrap();
        let names: Vec<_> = names.iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, ["a.parquet", "b.parquet"]);
    }

    use super::super::storage_for;
}
