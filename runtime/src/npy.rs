//! NumPy `.npy`/`.npz` reading and writing.
//!
//! Reading parses the `.npy` header itself rather than through `npyz`, because the header
//! describes untrusted sizes: every shape product is checked for overflow and the claimed data
//! size is compared with the bytes actually present before anything of that size is allocated.
//! The zip container of `.npz` files is read with the `zip` crate re-exported by `npyz`.
//!
//! Accepted dtypes: `bool`, `int8`..`int64`, `uint8`..`uint64`, `float16`, `float32`, `float64`,
//! either byte order, C or Fortran order. Everything is converted to row-major `f64` [`Tensor`]s.
//! Writing always produces little-endian `float64`, C order, through a temporary file in the
//! destination directory that is renamed into place, so a failed write never leaves a partial
//! file behind.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;
use npyz::zip;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::tensor::Tensor;

/// Where a problem was found: a file, and for `.npz` archives the array inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file as it was given to the reader or writer.
    pub file: PathBuf,
    /// The array's name inside an `.npz` archive (without `.npy`); `None` for whole files.
    pub array: Option<String>,
}

impl Location {
    fn file(path: &Path) -> Location {
        Location {
            file: path.to_path_buf(),
            array: None,
        }
    }

    fn array(path: &Path, name: &str) -> Location {
        Location {
            file: path.to_path_buf(),
            array: Some(name.to_string()),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(name) = &self.array {
            write!(f, ": array `{name}`")?;
        }
        Ok(())
    }
}

/// Errors of NumPy file I/O. Every message starts with the file (and array) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{loc}: {source}")]
    Io {
        loc: Location,
        #[source]
        source: io::Error,
    },
    #[error("{loc}: not a NumPy .npy file (bad magic bytes)")]
    BadMagic { loc: Location },
    #[error("{loc}: unsupported .npy format version {major}.{minor}")]
    UnsupportedVersion { loc: Location, major: u8, minor: u8 },
    #[error("{loc}: malformed .npy header: {reason}")]
    BadHeader { loc: Location, reason: String },
    #[error("{loc}: unsupported dtype {dtype}")]
    UnsupportedDtype { loc: Location, dtype: String },
    #[error(
        "{loc}: truncated: the header announces {expected} bytes of data but only {found} are present"
    )]
    Truncated {
        loc: Location,
        expected: u64,
        found: u64,
    },
    #[error("{loc}: {extra} unexpected bytes after the array data")]
    TrailingBytes { loc: Location, extra: u64 },
    #[error("{loc}: not a valid .npz archive: {reason}")]
    BadArchive { loc: Location, reason: String },
    #[error("{loc}: archive entry `{entry}` is not a .npy array")]
    NotAnArray { loc: Location, entry: String },
    #[error(
        "{loc}: the archive's arrays take {need} bytes uncompressed, more than the {limit} allowed"
    )]
    TooLarge {
        loc: Location,
        need: u64,
        limit: u64,
    },
    #[error("{loc}: the archive holds two arrays named `{name}`")]
    DuplicateArray { loc: Location, name: String },
    #[error("{loc}: labels {reason}")]
    BadLabels { loc: Location, reason: String },
    #[error(
        "{loc}: array `{name}` holds {what}; weights are float32 or float64 \
         (save it as `np.asarray(w, dtype=np.float32)`)"
    )]
    NotFloat {
        loc: Location,
        name: String,
        what: &'static str,
    },
}

/// The largest header we accept; NumPy itself refuses headers above 10 000 bytes by default.
const MAX_HEADER_LEN: usize = 1 << 20;
/// Nesting limit of the header's Python literal, so hostile input cannot exhaust the stack.
const MAX_LITERAL_DEPTH: usize = 32;

/// The element types we can convert to reals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dtype {
    kind: Kind,
    size: usize,
    big_endian: bool,
}

/// A decoded `.npy` payload before conversion: raw bytes as stored in the file.
struct RawArray {
    shape: Vec<usize>,
    fortran: bool,
    dtype: Dtype,
    bytes: Vec<u8>,
}

/// Reads a `.npy` file into a row-major `f64` tensor. A 0-d array becomes a scalar (shape `[]`).
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor, NpyError> {
    let path = path.as_ref();
    let loc = Location::file(path);
    let raw = read_npy_raw(path, &loc)?;
    Ok(raw.to_tensor())
}

/// Reads every array of a `.npz` archive, in archive order, as `(name, tensor)` pairs.
/// Names are the entry names without their `.npy` suffix; duplicate names are an error.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>, NpyError> {
    read_npz_within(path, u64::MAX)
}

/// [`read_npz`], refusing (before decompressing anything) an archive whose entries declare more
/// than `limit` bytes in all: a small compressed file cannot make us allocate a large one.
pub fn read_npz_within(
    path: impl AsRef<Path>,
    limit: u64,
) -> Result<Vec<(String, Tensor)>, NpyError> {
    let path = path.as_ref();
    read_npz_raw(path, limit).map(|arrays| {
        arrays
            .into_iter()
            .map(|(name, raw)| (name, raw.to_tensor()))
            .collect()
    })
}

/// [`read_npz_within`] for weights: every array must be float32 or float64 (the files'
/// contract), so integer or boolean arrays saved by mistake are named, not converted.
pub fn read_weights_within(
    path: impl AsRef<Path>,
    limit: u64,
) -> Result<Vec<(String, Tensor)>, NpyError> {
    let path = path.as_ref();
    let arrays = read_npz_raw(path, limit)?;
    if let Some((name, raw)) = arrays.iter().find(|(_, r)| r.dtype.kind != Kind::Float) {
        return Err(NpyError::NotFloat {
            loc: Location::file(path),
            name: name.clone(),
            what: match raw.dtype.kind {
                Kind::Bool => "booleans",
                Kind::Int => "signed integers",
                _ => "unsigned integers",
            },
        });
    }
    Ok(arrays
        .into_iter()
        .map(|(name, raw)| (name, raw.to_tensor()))
        .collect())
}

/// Reads a 1-D array of class labels from a `.npy` file. Integer and boolean dtypes are taken
/// as they are; floating-point values are accepted when each is an exact integer.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<i64>, NpyError> {
    let path = path.as_ref();
    let loc = Location::file(path);
    let raw = read_npy_raw(path, &loc)?;
    if raw.shape.len() != 1 {
        return Err(NpyError::BadLabels {
            loc,
            reason: format!("must be a 1-D array, found shape {:?}", raw.shape),
        });
    }
    raw.to_labels()
        .map_err(|reason| NpyError::BadLabels { loc, reason })
}

/// Writes a tensor as a little-endian `float64` `.npy` file (atomically: temporary file, then
/// rename).
pub fn write_npy(path: impl AsRef<Path>, tensor: &Tensor) -> Result<(), NpyError> {
    let path = path.as_ref();
    write_atomically(path, |file| {
        let mut out = BufWriter::new(file);
        write_npy_to(&mut out, tensor)?;
        out.flush()
    })
}

/// Writes named tensors as an uncompressed `.npz` archive of `float64` arrays, in the given
/// order, as `numpy.savez` does (atomically: temporary file, then rename).
pub fn write_npz(path: impl AsRef<Path>, arrays: &[(String, Tensor)]) -> Result<(), NpyError> {
    let path = path.as_ref();
    write_atomically(path, |file| {
        let mut zip = zip::ZipWriter::new(BufWriter::new(file));
        for (name, tensor) in arrays {
            // The zip format needs to know in advance whether an entry exceeds 4 GiB.
            let bytes = 128 + 8 * tensor.len() as u64;
            let options = zip::write::FileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(bytes >= u32::MAX as u64);
            zip.start_file(format!("{name}.npy"), options)
                .map_err(zip_to_io)?;
            write_npy_to(&mut zip, tensor)?;
        }
        let mut out = zip.finish().map_err(zip_to_io)?;
        out.flush()
    })
}

/// Writes any bytes (a report, a plan) atomically: temporary file, then rename.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), NpyError> {
    write_atomically(path.as_ref(), |mut file| file.write_all(bytes))
}

fn zip_to_io(e: zip::result::ZipError) -> io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

fn write_npy_to(out: &mut impl Write, tensor: &Tensor) -> io::Result<()> {
    let shape: Vec<u64> = tensor.shape().iter().map(|&d| d as u64).collect();
    let mut writer = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(&shape)
        .writer(out)
        .begin_nd()?;
    writer.extend(tensor.data().iter().copied())?;
    writer.finish()
}

/// Runs `write` on a fresh temporary file next to `path` and renames it over `path` only when
/// everything, including the flush to disk, succeeded. The temporary file has an unpredictable
/// name and is created exclusively (never through a planted file or symlink) with mode 0600:
/// results, reports and weights are private to their owner; the rename replaces `path`
/// itself, even when it is a symlink, never the file a symlink points to.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&File) -> io::Result<()>,
) -> Result<(), NpyError> {
    let io_err = |source| NpyError::Io {
        loc: Location::file(path),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path does not name a file",
        ))
    })?;
    let mut rng = ChaCha20Rng::try_from_os_rng().map_err(|e| io_err(io::Error::other(e)))?;
    let (file, tmp) = {
        let mut tries = 0;
        loop {
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(file_name);
            tmp_name.push(format!(".{:016x}.tmp", rng.next_u64()));
            let tmp = dir.join(tmp_name);
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            match opts.open(&tmp) {
                Ok(f) => break (f, tmp),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
                Err(e) => return Err(io_err(e)),
            }
        }
    };
    let result = (|| {
        write(&file)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    Ok(())
}

fn read_npy_raw(path: &Path, loc: &Location) -> Result<RawArray, NpyError> {
    let io_err = |source| NpyError::Io {
        loc: loc.clone(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut reader = BufReader::new(file);
    let (raw, _) = read_array(&mut reader, len, loc)?;
    Ok(raw)
}

fn read_npz_raw(path: &Path, limit: u64) -> Result<Vec<(String, RawArray)>, NpyError> {
    let file = File::open(path).map_err(|source| NpyError::Io {
        loc: Location::file(path),
        source,
    })?;
    npz_from_reader(BufReader::new(file), path, limit)
}

/// Reads the arrays of an `.npz` archive held by `reader`; `path` is only for messages.
fn npz_from_reader(
    reader: impl Read + Seek,
    path: &Path,
    limit: u64,
) -> Result<Vec<(String, RawArray)>, NpyError> {
    let file_loc = Location::file(path);
    let bad_archive = |e: zip::result::ZipError| NpyError::BadArchive {
        loc: file_loc.clone(),
        reason: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(reader).map_err(bad_archive)?;
    let mut need: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(bad_archive)?;
        need = need.saturating_add(entry.size());
    }
    if need > limit {
        return Err(NpyError::TooLarge {
            loc: file_loc,
            need,
            limit,
        });
    }
    let mut arrays: Vec<(String, RawArray)> = Vec::with_capacity(archive.len().min(4096));
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(bad_archive)?;
        let entry_name = entry.name().to_string();
        if entry.is_dir() {
            continue;
        }
        let Some(name) = entry_name.strip_suffix(".npy") else {
            return Err(NpyError::NotAnArray {
                loc: file_loc.clone(),
                entry: entry_name,
            });
        };
        if arrays.iter().any(|(n, _)| n == name) {
            return Err(NpyError::DuplicateArray {
                loc: file_loc.clone(),
                name: name.to_string(),
            });
        }
        let loc = Location::array(path, name);
        let available = entry.size();
        let (raw, consumed) = read_array(&mut entry, available, &loc)?;
        // Reading to the end of the entry makes the zip reader verify its CRC.
        let mut probe = [0u8; 1];
        match entry.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => {
                return Err(NpyError::TrailingBytes {
                    loc,
                    extra: available.saturating_sub(consumed).max(1),
                });
            }
            Err(source) => return Err(NpyError::Io { loc, source }),
        }
        arrays.push((name.to_string(), raw));
    }
    Ok(arrays)
}

/// Reads one `.npy` stream of `available` bytes; returns the array and the bytes consumed.
fn read_array(
    reader: &mut impl Read,
    available: u64,
    loc: &Location,
) -> Result<(RawArray, u64), NpyError> {
    let io_err = |source| NpyError::Io {
        loc: loc.clone(),
        source,
    };
    let bad_header = |reason: String| NpyError::BadHeader {
        loc: loc.clone(),
        reason,
    };

    let mut preamble = [0u8; 8];
    let got = read_up_to(reader, &mut preamble).map_err(io_err)?;
    if got < 8 || &preamble[..6] != b"\x93NUMPY" {
        return Err(NpyError::BadMagic { loc: loc.clone() });
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let len_bytes = match major {
        1 => 2,
        2 | 3 => 4,
        _ => {
            return Err(NpyError::UnsupportedVersion {
                loc: loc.clone(),
                major,
                minor,
            });
        }
    };
    let mut len_buf = [0u8; 4];
    if read_up_to(reader, &mut len_buf[..len_bytes]).map_err(io_err)? < len_bytes {
        return Err(bad_header("file ends inside the header length".into()));
    }
    let header_len = u32::from_le_bytes(len_buf) as usize;
    let prefix = (8 + len_bytes + header_len) as u64;
    if header_len > MAX_HEADER_LEN || prefix > available {
        return Err(bad_header(format!(
            "header length {header_len} exceeds the {} bytes available",
            available
                .saturating_sub(8 + len_bytes as u64)
                .min(MAX_HEADER_LEN as u64)
        )));
    }
    let mut header = vec![0u8; header_len];
    if read_up_to(reader, &mut header).map_err(io_err)? < header_len {
        return Err(bad_header("file ends inside the header".into()));
    }
    // Versions 1 and 2 are latin-1, version 3 UTF-8; every valid header is ASCII anyway.
    let text = String::from_utf8_lossy(&header);
    let (dtype, fortran, shape) = parse_header(&text).map_err(|e| match e {
        HeaderError::Malformed(reason) => bad_header(reason),
        HeaderError::Dtype(dtype) => NpyError::UnsupportedDtype {
            loc: loc.clone(),
            dtype,
        },
    })?;

    let elements = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| bad_header(format!("shape {shape:?} overflows")))?;
    let expected = elements
        .checked_mul(dtype.size as u64)
        .ok_or_else(|| bad_header(format!("shape {shape:?} overflows")))?;
    let remaining = available - prefix;
    if expected > remaining {
        return Err(NpyError::Truncated {
            loc: loc.clone(),
            expected,
            found: remaining,
        });
    }
    if expected < remaining {
        return Err(NpyError::TrailingBytes {
            loc: loc.clone(),
            extra: remaining - expected,
        });
    }
    // `expected` fits in memory's address space since it is at most the file's length, but only
    // if usize is as wide; refuse otherwise rather than truncate.
    let expected_usize = usize::try_from(expected)
        .map_err(|_| bad_header(format!("array of {expected} bytes is too large")))?;
    // Grow the buffer as data arrives: `available` may come from an untrusted zip directory.
    let mut bytes = Vec::new();
    reader
        .take(expected)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() < expected_usize {
        return Err(NpyError::Truncated {
            loc: loc.clone(),
            expected,
            found: bytes.len() as u64,
        });
    }
    Ok((
        RawArray {
            shape,
            fortran,
            dtype,
            bytes,
        },
        prefix + expected,
    ))
}

/// Like `read_exact`, but reports how much was read instead of failing at end of file.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl RawArray {
    fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size
    }

    /// The element at flat storage position `i`, as `f64`.
    fn get_f64(&self, i: usize) -> f64 {
        let Dtype {
            kind,
            size,
            big_endian,
        } = self.dtype;
        let b = &self.bytes[i * size..(i + 1) * size];
        match kind {
            Kind::Bool => (b[0] != 0) as u8 as f64,
            Kind::Int => sign_extend(load_uint(b, big_endian), size) as f64,
            Kind::Uint => load_uint(b, big_endian) as f64,
            Kind::Float => {
                let bits = load_uint(b, big_endian);
                match size {
                    2 => f16_to_f64(bits as u16),
                    4 => f32::from_bits(bits as u32) as f64,
                    _ => f64::from_bits(bits),
                }
            }
        }
    }

    /// Storage values in row-major order (Fortran-ordered files are transposed back).
    fn to_tensor(&self) -> Tensor {
        let n = self.len();
        let mut data = Vec::with_capacity(n);
        if !self.fortran || self.shape.len() < 2 {
            data.extend((0..n).map(|i| self.get_f64(i)));
        } else {
            for_each_fortran_offset(&self.shape, |offset| data.push(self.get_f64(offset)));
        }
        Tensor::new(self.shape.clone(), data).expect("element count checked against the shape")
    }

    fn to_labels(&self) -> Result<Vec<i64>, String> {
        let Dtype {
            kind,
            size,
            big_endian,
        } = self.dtype;
        (0..self.len())
            .map(|i| {
                let b = &self.bytes[i * size..(i + 1) * size];
                match kind {
                    Kind::Bool => Ok((b[0] != 0) as i64),
                    Kind::Int => Ok(sign_extend(load_uint(b, big_endian), size)),
                    Kind::Uint => {
                        let v = load_uint(b, big_endian);
                        i64::try_from(v).map_err(|_| format!("value {v} at index {i} is too large"))
                    }
                    Kind::Float => {
                        let v = self.get_f64(i);
                        // 2^63 is the first float beyond i64; the range check excludes NaN too.
                        let limit = (1u64 << 63) as f64;
                        if v.fract() == 0.0 && (-limit..limit).contains(&v) {
                            Ok(v as i64)
                        } else {
                            Err(format!("must be integers, found {v} at index {i}"))
                        }
                    }
                }
            })
            .collect()
    }
}

/// Calls `visit` with the storage offset of each element of a Fortran-ordered array, in
/// row-major order of the logical indices.
fn for_each_fortran_offset(shape: &[usize], mut visit: impl FnMut(usize)) {
    if shape.contains(&0) {
        return;
    }
    let rank = shape.len();
    // Fortran strides: the first axis varies fastest.
    let mut strides = vec![1usize; rank];
    for k in 1..rank {
        strides[k] = strides[k - 1] * shape[k - 1];
    }
    let mut index = vec![0usize; rank];
    let mut offset = 0usize;
    loop {
        visit(offset);
        let mut axis = rank;
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < shape[axis] {
                break;
            }
            offset -= strides[axis] * shape[axis];
            index[axis] = 0;
        }
    }
}

fn load_uint(bytes: &[u8], big_endian: bool) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len();
    if big_endian {
        buf[8 - n..].copy_from_slice(bytes);
        u64::from_be_bytes(buf)
    } else {
        buf[..n].copy_from_slice(bytes);
        u64::from_le_bytes(buf)
    }
}

fn sign_extend(v: u64, size: usize) -> i64 {
    let shift = 64 - 8 * size as u32;
    ((v << shift) as i64) >> shift
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f64;
    sign * match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    }
}

enum HeaderError {
    Malformed(String),
    Dtype(String),
}

/// The subset of Python literals that `.npy` headers use.
#[derive(Debug)]
enum Literal {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Seq(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

fn parse_header(text: &str) -> Result<(Dtype, bool, Vec<usize>), HeaderError> {
    let malformed = |s: &str| HeaderError::Malformed(s.to_string());
    let mut parser = LiteralParser {
        s: text.as_bytes(),
        pos: 0,
    };
    let value = parser.value(0).map_err(HeaderError::Malformed)?;
    parser.skip_ws();
    if parser.pos != parser.s.len() {
        return Err(malformed("unexpected text after the header dictionary"));
    }
    let Literal::Dict(entries) = value else {
        return Err(malformed("the header is not a dictionary"));
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| matches!(k, Literal::Str(s) if s == key))
            .map(|(_, v)| v)
            .ok_or_else(|| HeaderError::Malformed(format!("missing key '{key}'")))
    };
    let fortran = match get("fortran_order")? {
        Literal::Bool(b) => *b,
        _ => return Err(malformed("'fortran_order' is not a boolean")),
    };
    let shape = match get("shape")? {
        Literal::Seq(items) => items
            .iter()
            .map(|item| match item {
                Literal::Int(d) => usize::try_from(*d)
                    .map_err(|_| HeaderError::Malformed(format!("dimension {d} is too large"))),
                _ => Err(malformed("'shape' holds a non-integer")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(malformed("'shape' is not a tuple")),
    };
    let dtype = match get("descr")? {
        Literal::Str(descr) => parse_descr(descr)?,
        Literal::Seq(_) => return Err(HeaderError::Dtype("(structured record)".into())),
        _ => return Err(malformed("'descr' is not a string")),
    };
    Ok((dtype, fortran, shape))
}

/// Parses a NumPy type string such as `<f8`, `|b1`, `>i4`.
fn parse_descr(descr: &str) -> Result<Dtype, HeaderError> {
    let unsupported = || HeaderError::Dtype(numpy_name(descr));
    let mut chars = descr.chars();
    let (big_endian, rest) = match chars.next() {
        Some('<') | Some('|') => (false, chars.as_str()),
        Some('>') => (true, chars.as_str()),
        Some('=') => (cfg!(target_endian = "big"), chars.as_str()),
        _ => (false, descr),
    };
    let mut rest_chars = rest.chars();
    let code = rest_chars.next().ok_or_else(unsupported)?;
    let size: usize = rest_chars.as_str().parse().map_err(|_| unsupported())?;
    let kind = match (code, size) {
        ('b', 1) => Kind::Bool,
        ('i', 1 | 2 | 4 | 8) => Kind::Int,
        ('u', 1 | 2 | 4 | 8) => Kind::Uint,
        ('f', 2 | 4 | 8) => Kind::Float,
        _ => return Err(unsupported()),
    };
    Ok(Dtype {
        kind,
        size,
        big_endian,
    })
}

/// NumPy's own name for a type string, for error messages (`<c16` is `complex128`).
fn numpy_name(descr: &str) -> String {
    let body = descr.trim_start_matches(['<', '>', '|', '=']);
    let mut chars = body.chars();
    let code = chars.next();
    let rest = chars.as_str();
    let bits = rest.parse::<usize>().ok().map(|n| n * 8);
    match (code, bits) {
        (Some('f'), Some(b)) => format!("float{b}"),
        (Some('c'), Some(b)) => format!("complex{b}"),
        (Some('i'), Some(b)) => format!("int{b}"),
        (Some('u'), Some(b)) => format!("uint{b}"),
        (Some('b'), _) => "bool".into(),
        (Some('U'), _) => "str".into(),
        (Some('S'), _) => "bytes".into(),
        (Some('O'), _) => "object".into(),
        (Some('V'), _) => "void".into(),
        (Some('M'), _) => format!("datetime64{}", rest.trim_start_matches('8')),
        (Some('m'), _) => format!("timedelta64{}", rest.trim_start_matches('8')),
        _ => format!("`{descr}`"),
    }
}

struct LiteralParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl LiteralParser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.pos))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_LITERAL_DEPTH {
            return Err("nested too deeply".into());
        }
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Literal::Dict(entries));
                    }
                    let key = self.value(depth + 1)?;
                    self.expect(b':')?;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    } else {
                        self.expect(b'}')?;
                        return Ok(Literal::Dict(entries));
                    }
                }
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        return Ok(Literal::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    } else {
                        self.expect(close)?;
                        return Ok(Literal::Seq(items));
                    }
                }
            }
            Some(quote @ (b'\'' | b'"')) => {
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos] != quote {
                    // Escapes never occur in valid headers; refusing them keeps this simple.
                    if self.s[self.pos] == b'\\' {
                        return Err("escape sequences in strings are not supported".into());
                    }
                    self.pos += 1;
                }
                if self.pos >= self.s.len() {
                    return Err("unterminated string".into());
                }
                let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                self.pos += 1;
                Ok(Literal::Str(text))
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                // Python 2 era writers appended `L` to long integers.
                if self.s.get(self.pos) == Some(&b'L') {
                    self.pos += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.pos])
                    .unwrap_or("")
                    .trim_end_matches('L');
                digits
                    .parse()
                    .map(Literal::Int)
                    .map_err(|_| format!("integer {digits} is out of range"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Literal::Bool(true)),
                    b"False" => Ok(Literal::Bool(false)),
                    b"None" => Ok(Literal::None),
                    other => Err(format!(
                        "unexpected word `{}`",
                        String::from_utf8_lossy(other)
                    )),
                }
            }
            Some(c) => Err(format!(
                "unexpected character `{}` at byte {}",
                c.escape_ascii(),
                self.pos
            )),
            None => Err("unexpected end of header".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npy")
    }

    fn fixture(name: &str) -> PathBuf {
        data_dir().join(name)
    }

    /// The reference array of most fixtures: `np.arange(24).reshape(2, 3, 4)`.
    fn arange_234() -> Tensor {
        Tensor::new(vec![2, 3, 4], (0..24).map(|i| i as f64).collect()).unwrap()
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sir-npy-test-{}-{tag}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A compressed archive is bounded by what its entries declare, before decompression.
    #[test]
    fn an_archive_beyond_the_limit_is_refused_before_decompressing() {
        let dir = tmpdir("limit");
        let p = dir.join("big.npz");
        let t = Tensor::new(vec![1000], vec![0.0; 1000]).unwrap();
        write_npz(&p, &[("a".into(), t.clone()), ("b".into(), t)]).unwrap();
        assert!(read_npz_within(&p, 1 << 20).is_ok());
        match read_npz_within(&p, 10_000) {
            Err(NpyError::TooLarge { need, limit, .. }) => {
                assert!(need > 16_000 && limit == 10_000, "{need}");
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn reads_every_supported_dtype_and_byte_order() {
        for dtype in [
            "f8", "f4", "f2", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8",
        ] {
            for endian in ["le", "be"] {
                if dtype.ends_with('1') && endian == "be" {
                    continue;
                }
                let name = format!("arange_{dtype}_{endian}.npy");
                let t = read_npy(fixture(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(t, arange_234(), "{name}");
            }
        }
    }

    #[test]
    fn fortran_order_is_converted_to_row_major() {
        for name in ["fortran_f8.npy", "fortran_i4_be.npy"] {
            assert_eq!(read_npy(fixture(name)).unwrap(), arange_234(), "{name}");
        }
        // A 2-D Fortran array whose storage order differs visibly from its logical order.
        let t = read_npy(fixture("fortran_2x3.npy")).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.data(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn bool_scalar_empty_and_special_values() {
        let b = read_npy(fixture("bool.npy")).unwrap();
        assert_eq!(b.shape(), &[4]);
        assert_eq!(b.data(), &[1.0, 0.0, 0.0, 1.0]);
        let s = read_npy(fixture("scalar.npy")).unwrap();
        assert_eq!(s.shape(), &[] as &[usize]);
        assert_eq!(s.data(), &[2.5]);
        let e = read_npy(fixture("empty.npy")).unwrap();
        assert_eq!(e.shape(), &[0, 3]);
        assert!(e.is_empty());
        let x = read_npy(fixture("extremes_f8.npy")).unwrap();
        let d = x.data();
        assert_eq!(d[0], f64::MAX);
        assert_eq!(d[1], f64::MIN_POSITIVE);
        assert_eq!(d[2], -0.0);
        assert!(d[2].is_sign_negative());
        assert_eq!(d[3], f64::INFINITY);
        assert!(d[4].is_nan());
        assert_eq!(d[5], 5e-324);
        let i = read_npy(fixture("extremes_i8.npy")).unwrap();
        assert_eq!(i.data(), &[i64::MIN as f64, i64::MAX as f64, -1.0]);
        let v2 = read_npy(fixture("version2.npy")).unwrap();
        assert_eq!(v2, arange_234());
    }

    #[test]
    fn reads_npz_in_archive_order_plain_and_compressed() {
        for name in ["weights.npz", "weights_compressed.npz"] {
            let arrays = read_npz(fixture(name)).unwrap();
            let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["W1", "b1", "zeta", "A_f32"], "{name}");
            assert_eq!(arrays[0].1.shape(), &[3, 2]);
            assert_eq!(arrays[0].1.data(), &[0.5, -1.0, 2.0, 0.25, 3.0, -4.5]);
            assert_eq!(arrays[1].1.data(), &[1.0, 2.0]);
            assert_eq!(arrays[2].1.shape(), &[] as &[usize]);
            assert_eq!(arrays[2].1.data(), &[0.125]);
            assert_eq!(arrays[3].1, arange_234());
        }
    }

    #[test]
    fn npz_errors_name_the_array() {
        let err = read_npz(fixture("complex.npz")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.ends_with("complex.npz: array `W1`: unsupported dtype complex128"),
            "{msg}"
        );
        let err = read_npy(fixture("strings.npy")).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("strings.npy: unsupported dtype str"),
            "{err}"
        );
        let err = read_npy(fixture("structured.npy")).unwrap_err();
        assert!(matches!(err, NpyError::UnsupportedDtype { .. }), "{err}");
        let err = read_npy(fixture("object.npy")).unwrap_err();
        assert!(
            err.to_string().ends_with("unsupported dtype object"),
            "{err}"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(
            read_labels(fixture("labels_i8.npy")).unwrap(),
            vec![3, 0, 9, 1, 1]
        );
        assert_eq!(
            read_labels(fixture("labels_u1.npy")).unwrap(),
            vec![3, 0, 9, 1, 1]
        );
        assert_eq!(
            read_labels(fixture("labels_f4_be.npy")).unwrap(),
            vec![3, 0, 9, 1, 1]
        );
        let err = read_labels(fixture("labels_fractional.npy")).unwrap_err();
        assert!(
            err.to_string()
                .contains("must be integers, found 0.5 at index 1"),
            "{err}"
        );
        let err = read_labels(fixture("arange_f8_le.npy")).unwrap_err();
        assert!(
            err.to_string()
                .contains("must be a 1-D array, found shape [2, 3, 4]"),
            "{err}"
        );
        let err = read_labels(fixture("labels_u8_huge.npy")).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn round_trip_npy_and_npz() {
        let dir = tmpdir("roundtrip");
        let tensors = [
            Tensor::scalar(-3.25),
            Tensor::new(vec![0], vec![]).unwrap(),
            arange_234(),
            Tensor::new(vec![2, 2], vec![1e-300, -0.0, f64::INFINITY, 1.0 / 3.0]).unwrap(),
        ];
        for (i, t) in tensors.iter().enumerate() {
            let path = dir.join(format!("t{i}.npy"));
            write_npy(&path, t).unwrap();
            assert_eq!(&read_npy(&path).unwrap(), t);
        }
        let named: Vec<(String, Tensor)> = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("z{}", 3 - i), t.clone()))
            .collect();
        let path = dir.join("all.npz");
        write_npz(&path, &named).unwrap();
        assert_eq!(read_npz(&path).unwrap(), named);
        // Overwriting replaces the file, and no temporary file stays behind.
        write_npz(&path, &named[..1]).unwrap();
        assert_eq!(read_npz(&path).unwrap(), named[..1].to_vec());
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 19: results are private and no planted file redirects them. The old temporary
    /// name (`.NAME.<pid>.tmp`) was predictable and opened with `File::create`: a symlink
    /// planted there made the write truncate another file, and the result was 0644.
    #[cfg(unix)]
    #[test]
    fn writes_are_private_and_follow_no_planted_symlink() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tmpdir("private");
        let victim = dir.join("victim.txt");
        fs::write(&victim, b"keep me").unwrap();
        let out = dir.join("out.npy");
        symlink(
            &victim,
            dir.join(format!(".out.npy.{}.tmp", std::process::id())),
        )
        .unwrap();
        write_npy(&out, &arange_234()).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep me");
        let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the output's mode is {mode:o}");
        // A symlink at the destination itself is replaced, not written through.
        let link = dir.join("link.npy");
        symlink(&victim, &link).unwrap();
        write_atomic(&link, b"report").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(fs::read(&link).unwrap(), b"report");
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tmpdir("failwrite");
        let missing = dir.join("no/such/dir/out.npy");
        let err = write_npy(&missing, &arange_234()).unwrap_err();
        assert!(err.to_string().contains("out.npy"), "{err}");
        assert!(!missing.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 22: weights saved as integers (or booleans) are refused, naming the array,
    /// instead of converted; float32 and float64 pass.
    #[test]
    fn integer_weights_are_refused() {
        let dir = tmpdir("intweights");
        let path = dir.join("w.npz");
        let write = |entries: &[(&str, Vec<u8>)]| {
            let file = File::create(&path).unwrap();
            let mut zip = zip::ZipWriter::new(file);
            for (name, bytes) in entries {
                let o = zip::write::FileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored);
                zip.start_file(format!("{name}.npy"), o).unwrap();
                zip.write_all(bytes).unwrap();
            }
            zip.finish().unwrap();
        };
        let header = |descr: &str| {
            let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
            while (10 + h.len() + 1) % 64 != 0 {
                h.push(' ');
            }
            h.push('\n');
            h
        };
        let f4: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let i8s: Vec<u8> = [3i64, -4].iter().flat_map(|v| v.to_le_bytes()).collect();
        write(&[("a", npy_bytes(&header("<f4"), &f4))]);
        let ok = read_weights_within(&path, u64::MAX).unwrap();
        assert_eq!(ok[0].1.data(), &[1.5, -2.0]);
        write(&[
            ("a", npy_bytes(&header("<f4"), &f4)),
            ("b", npy_bytes(&header("<i8"), &i8s)),
        ]);
        let err = read_weights_within(&path, u64::MAX)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`b` holds signed integers") && err.contains("float32"),
            "{err}"
        );
        // Plain reading (inputs) still converts them.
        assert_eq!(read_npz(&path).unwrap()[1].1.data(), &[3.0, -4.0]);
        fs::remove_dir_all(&dir).unwrap();
    }

    fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn read_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<Tensor, NpyError> {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        read_npy(&path)
    }

    #[test]
    fn corrupt_headers_are_errors() {
        let dir = tmpdir("corrupt");
        let huge = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 1000000), }";
        let err = read_bytes(&dir, "huge.npy", &npy_bytes(huge, &[0; 16])).unwrap_err();
        assert!(
            matches!(err, NpyError::Truncated { found: 16, .. }),
            "{err}"
        );
        let overflow = "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }";
        let err = read_bytes(&dir, "overflow.npy", &npy_bytes(overflow, &[])).unwrap_err();
        assert!(err.to_string().contains("overflows"), "{err}");
        let too_big_dim =
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }";
        let err = read_bytes(&dir, "bigdim.npy", &npy_bytes(too_big_dim, &[])).unwrap_err();
        assert!(matches!(err, NpyError::BadHeader { .. }), "{err}");
        for (i, header) in [
            "",
            "{",
            "{'descr': '<f8', 'fortran_order': False}",
            "{'descr': '<f8', 'shape': (2,), 'fortran_order': 1}",
            "{'descr': 8, 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} junk",
            "{'descr': '<f8', 'fortran_order': False, 'shape': ((1,),)}",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            "{'descr': '<x8', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f3', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f8\\', 'fortran_order': False, 'shape': (1,)}",
        ]
        .iter()
        .enumerate()
        {
            let result = read_bytes(&dir, &format!("h{i}.npy"), &npy_bytes(header, &[0; 8]));
            assert!(result.is_err(), "header {header:?} was accepted");
        }
        // Bad magic, unknown version, header length beyond the file.
        assert!(matches!(
            read_bytes(&dir, "magic.npy", b"PK\x03\x04 not numpy").unwrap_err(),
            NpyError::BadMagic { .. }
        ));
        assert!(matches!(
            read_bytes(&dir, "v9.npy", b"\x93NUMPY\x09\x00\x10\x00").unwrap_err(),
            NpyError::UnsupportedVersion { major: 9, .. }
        ));
        let err = read_bytes(&dir, "hlen.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\xff{").unwrap_err();
        assert!(matches!(err, NpyError::BadHeader { .. }), "{err}");
        // Extra bytes after the data.
        let ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
        let err = read_bytes(&dir, "trailing.npy", &npy_bytes(ok, &[0; 9])).unwrap_err();
        assert!(
            matches!(err, NpyError::TrailingBytes { extra: 1, .. }),
            "{err}"
        );
        let err = read_npy(dir.join("does-not-exist.npy")).unwrap_err();
        assert!(matches!(err, NpyError::Io { .. }));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Every truncation and many single-byte corruptions of real files must give an error or a
    /// tensor, never a panic.
    #[test]
    fn truncated_and_mangled_files_never_panic() {
        for name in ["arange_f8_le.npy", "weights.npz", "weights_compressed.npz"] {
            let bytes = fs::read(fixture(name)).unwrap();
            let npz = name.ends_with(".npz");
            let path = Path::new(name);
            // In memory: the same code paths as files, thousands of times faster.
            let check = |b: &[u8]| {
                if npz {
                    npz_from_reader(io::Cursor::new(b), path, u64::MAX).map(drop)
                } else {
                    let loc = Location::file(path);
                    read_array(&mut io::Cursor::new(b), b.len() as u64, &loc).map(|(raw, _)| {
                        let _ = raw.to_tensor();
                        let _ = raw.to_labels();
                    })
                }
            };
            for len in 0..bytes.len() {
                assert!(
                    check(&bytes[..len]).is_err(),
                    "{name} truncated to {len} bytes was accepted"
                );
            }
            assert!(check(&bytes).is_ok());
            let mut state = 0x9e3779b97f4a7c15u64;
            for _ in 0..3000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut mangled = bytes.clone();
                let at = (state % bytes.len() as u64) as usize;
                mangled[at] = (state >> 32) as u8;
                let _ = check(&mangled);
            }
        }
    }

    #[test]
    fn npz_structure_errors() {
        let err = read_npz(fixture("not_npy_entry.npz")).unwrap_err();
        assert!(matches!(err, NpyError::NotAnArray { .. }), "{err}");
        let err = read_npz(fixture("arange_f8_le.npy")).unwrap_err();
        assert!(matches!(err, NpyError::BadArchive { .. }), "{err}");
    }
}
