//! lstchain's DL1 file layout, as `lstchain_data_r0_to_dl1` (lstchain 0.12, ctapipe 0.25)
//! writes it for LST-1 data, so that the real lstchain programs after DL1a accept the
//! simulator's files:
//! - `/configuration/instrument/...`: the subarray, optics, camera geometry and readout
//!   tables of ctapipe's `SubarrayDescription.to_hdf`, with their `TAB_VER` attributes
//!   (ctapipe refuses other versions);
//! - `/dl1/event/telescope/image/LST_LSTCam` and `/parameters/LST_LSTCam`: one row per event;
//! - `/dl1/event/telescope/monitoring/{pedestal,flatfield,calibration}`: per-gain, per-pixel
//!   statistics, two rows (the calibration file's and the interleaved events');
//! - on every event and monitoring table the version strings and the JSON `config` the
//!   readers take back (`lstchain_dl1ab` fails without it), and ctapipe's column metadata
//!   (`CTAFIELD_<i>_TRANSFORM`, `_UNIT`, `_ENUM`, `_MAXLEN`): units are required
//!   (`lstchain_check_dl1` builds angles from them).
//!
//! Tables are one-dimensional compound datasets, chunked, compressed and extendable, as
//! PyTables reads them; per-gain pixel fields are two-dimensional HDF5 array types (nested one-dimensional
//! arrays crash PyTables); booleans are 8-bit bitfields as PyTables writes them. Strings in
//! attributes are UTF-8 (ctapipe rejects bytes).

use std::ffi::CString;

use hdf5::types::{VarLenAscii, VarLenUnicode};
use hdf5_sys::h5::hsize_t;
use hdf5_sys::h5d::{H5Dcreate2, H5Dwrite};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::{H5P_CLS_DATASET_CREATE, H5P_DEFAULT, H5Pclose, H5Pcreate, H5Pset_chunk, H5Pset_deflate};
use hdf5_sys::h5s::{H5S_ALL, H5S_UNLIMITED, H5Sclose, H5Screate_simple};
use hdf5_sys::h5t::{
    H5T_C_S1, H5T_COMPOUND, H5T_IEEE_F32LE, H5T_IEEE_F64LE, H5T_STD_B8LE, H5T_STD_I8LE, H5T_STD_I64LE, H5T_STD_U8LE, H5T_STD_U16LE, H5T_STD_U64LE,
    H5T_str_t, H5Tarray_create2, H5Tclose, H5Tcopy, H5Tcreate, H5Tinsert, H5Tset_size, H5Tset_strpad,
};

use super::outputs::h5err;

/// Versions written next to every table, as lstchain's `MetaData` does.
pub const LSTCHAIN_VERSION: &str = "0.12.3";
pub const CTAPIPE_VERSION: &str = "0.25.1";
const CTAPIPE_IO_LST_VERSION: &str = "0.29.2";
pub const N_PIXELS: usize = 1855;
const N_GAINS: usize = 2;
/// Pixel pitch of the generated camera (LSTCam's pixels are 5 cm apart).
const PIXEL_PITCH: f64 = 0.05;
/// LST-1's equivalent focal length, metres.
pub const FOCAL_LENGTH: f64 = 28.0;

pub const IMAGE_TABLE: &str = "dl1/event/telescope/image/LST_LSTCam";
pub const PARAMETERS_TABLE: &str = "dl1/event/telescope/parameters/LST_LSTCam";
pub const MONITORING_GROUP: &str = "dl1/event/telescope/monitoring";

/// The pickled `ctapipe.containers.EventType` class (protocol 0), as ctapipe stores an enum
/// column's class.
const EVENT_TYPE_ENUM: &str = "cctapipe.containers\nEventType\np0\n.";

/// Values of one column, every row's elements one after the other.
pub enum Values {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// Fixed-length byte strings of this length.
    Str(usize, Vec<String>),
}

impl Values {
    fn element_size(&self) -> usize {
        match self {
            Self::Bool(_) | Self::I8(_) | Self::U8(_) => 1,
            Self::U16(_) => 2,
            Self::F32(_) => 4,
            Self::I64(_) | Self::U64(_) | Self::F64(_) => 8,
            Self::Str(n, _) => *n,
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Bool(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::Str(_, v) => v.len(),
        }
    }

    /// Appends element `i` in little-endian bytes.
    fn put(&self, i: usize, out: &mut Vec<u8>) {
        match self {
            Self::Bool(v) => out.push(u8::from(v[i])),
            Self::I8(v) => out.extend(v[i].to_le_bytes()),
            Self::U8(v) => out.push(v[i]),
            Self::U16(v) => out.extend(v[i].to_le_bytes()),
            Self::I64(v) => out.extend(v[i].to_le_bytes()),
            Self::U64(v) => out.extend(v[i].to_le_bytes()),
            Self::F32(v) => out.extend(v[i].to_le_bytes()),
            Self::F64(v) => out.extend(v[i].to_le_bytes()),
            Self::Str(n, v) => {
                let mut bytes = v[i].as_bytes().to_vec();
                bytes.resize(*n, 0);
                out.extend(bytes);
            }
        }
    }

    /// The HDF5 file type of one element (the caller closes it).
    ///
    /// SAFETY: plain HDF5 type calls on the library's own constants.
    unsafe fn h5_type(&self) -> hid_t {
        unsafe {
            match self {
                // PyTables' BoolCol, read back as booleans (a uint8 column breaks the long-term
                // check's sums).
                Self::Bool(_) => H5Tcopy(*H5T_STD_B8LE),
                Self::I8(_) => H5Tcopy(*H5T_STD_I8LE),
                Self::U8(_) => H5Tcopy(*H5T_STD_U8LE),
                Self::U16(_) => H5Tcopy(*H5T_STD_U16LE),
                Self::I64(_) => H5Tcopy(*H5T_STD_I64LE),
                Self::U64(_) => H5Tcopy(*H5T_STD_U64LE),
                Self::F32(_) => H5Tcopy(*H5T_IEEE_F32LE),
                Self::F64(_) => H5Tcopy(*H5T_IEEE_F64LE),
                Self::Str(n, _) => {
                    let t = H5Tcopy(*H5T_C_S1);
                    H5Tset_size(t, *n);
                    H5Tset_strpad(t, H5T_str_t::H5T_STR_NULLPAD);
                    t
                }
            }
        }
    }
}

/// One column: name, per-row shape (empty for a scalar) and values.
pub struct Column {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub values: Values,
}

pub fn scalar(name: &'static str, values: Values) -> Column {
    Column { name, shape: Vec::new(), values }
}

pub fn array(name: &'static str, shape: &[usize], values: Values) -> Column {
    Column { name, shape: shape.to_vec(), values }
}

impl Column {
    fn per_row(&self) -> usize {
        self.shape.iter().product::<usize>().max(1)
    }
}

/// Writes `columns` as the compound table `path` (groups made as needed) and returns it for
/// its attributes.
pub fn write_table(file: &hdf5::File, path: &str, columns: &[Column]) -> Result<hdf5::Dataset, String> {
    let rows = columns.first().map(|c| c.values.len() / c.per_row()).unwrap_or(0);
    if let Some(bad) = columns.iter().find(|c| c.values.len() != rows * c.per_row()) {
        return Err(format!("{path}: column {} has {} values for {rows} rows", bad.name, bad.values.len()));
    }
    let row_size: usize = columns.iter().map(|c| c.per_row() * c.values.element_size()).sum();
    let mut buffer = Vec::with_capacity(rows * row_size);
    for row in 0..rows {
        for column in columns {
            let n = column.per_row();
            for i in row * n..(row + 1) * n {
                column.values.put(i, &mut buffer);
            }
        }
    }
    let compound = RowType::new(row_size);
    compound.append(columns)?;
    write_rows(file, path, &compound, &buffer)
}

/// A compound row type (closed when dropped).
pub struct RowType(hid_t);

impl RowType {
    fn new(size: usize) -> Self {
        // SAFETY: creates a type id owned by the value.
        Self(unsafe { H5Tcreate(H5T_COMPOUND, size) })
    }

    /// The row type of a table, to extend (`append` after `resize`).
    pub fn of(table: &hdf5::Dataset) -> Self {
        // SAFETY: a modifiable copy of the dataset's (read-only) type, owned by the value.
        Self(unsafe {
            let stored = hdf5_sys::h5d::H5Dget_type(table.id());
            let copy = H5Tcopy(stored);
            H5Tclose(stored);
            copy
        })
    }

    pub fn size(&self) -> usize {
        // SAFETY: a valid type id.
        unsafe { hdf5_sys::h5t::H5Tget_size(self.0) }
    }

    /// Appends `columns` (one row's worth: their per-row shape) after the current members,
    /// growing the type.
    pub fn append(&self, columns: &[Column]) -> Result<(), String> {
        let mut offset = if self.members() == 0 { 0 } else { self.size() };
        let added: usize = columns.iter().map(|c| c.per_row() * c.values.element_size()).sum();
        // SAFETY: HDF5 calls on this type id and on member types created and closed here.
        unsafe {
            if self.members() > 0 {
                hdf5_sys::h5t::H5Tset_size(self.0, offset + added);
            }
            for column in columns {
                let base = column.values.h5_type();
                let field = if column.shape.is_empty() {
                    base
                } else {
                    let dims: Vec<hsize_t> = column.shape.iter().map(|d| *d as hsize_t).collect();
                    let t = H5Tarray_create2(base, dims.len() as u32, dims.as_ptr());
                    H5Tclose(base);
                    t
                };
                let c_field = CString::new(column.name).map_err(|e| e.to_string())?;
                let status = H5Tinsert(self.0, c_field.as_ptr(), offset, field);
                H5Tclose(field);
                if status < 0 {
                    return Err(format!("cannot add column {} to a table type", column.name));
                }
                offset += column.per_row() * column.values.element_size();
            }
        }
        Ok(())
    }

    fn members(&self) -> i32 {
        // SAFETY: a valid compound type id.
        unsafe { hdf5_sys::h5t::H5Tget_nmembers(self.0) }
    }
}

impl Drop for RowType {
    fn drop(&mut self) {
        // SAFETY: the id is owned by this value.
        unsafe {
            H5Tclose(self.0);
        }
    }
}

/// Every row of `table`, as stored (its own type's packed bytes).
pub fn read_rows(table: &hdf5::Dataset) -> Result<(RowType, Vec<u8>), String> {
    let dtype = RowType::of(table);
    let rows = table.shape().first().copied().unwrap_or(0);
    let mut buffer = vec![0u8; dtype.size() * rows];
    // SAFETY: the buffer holds `rows` rows of the dataset's own type.
    let status = unsafe { hdf5_sys::h5d::H5Dread(table.id(), dtype.0, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.as_mut_ptr().cast()) };
    if status < 0 {
        return Err(format!("cannot read {}", table.name()));
    }
    Ok((dtype, buffer))
}

/// Writes packed rows of `row_type` as the table `path` (groups made as needed).
pub fn write_rows(file: &hdf5::File, path: &str, row_type: &RowType, buffer: &[u8]) -> Result<hdf5::Dataset, String> {
    let row_size = row_type.size();
    let rows = buffer.len() / row_size.max(1);
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let group = group_path(file, parent)?;
    let c_name = CString::new(name).map_err(|e| e.to_string())?;
    // Chunks of about 64 kB, as PyTables sizes them.
    let chunk = (65536 / row_size.max(1)).clamp(1, rows.max(1)) as hsize_t;
    // SAFETY: HDF5 calls on ids created here and closed before returning; the buffer holds
    // `rows` packed rows of `row_type`.
    let status = unsafe {
        let dims = [rows as hsize_t];
        let max = [H5S_UNLIMITED];
        let space = H5Screate_simple(1, dims.as_ptr(), max.as_ptr());
        let dcpl = H5Pcreate(*H5P_CLS_DATASET_CREATE);
        H5Pset_chunk(dcpl, 1, [chunk].as_ptr());
        // lstchain compresses (blosc); gzip is the filter every HDF5 reader has. The per-pixel
        // monitoring rows are megabytes uncompressed.
        H5Pset_deflate(dcpl, 1);
        let dataset = H5Dcreate2(group.id(), c_name.as_ptr(), row_type.0, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        let status = if dataset < 0 {
            -1
        } else if rows > 0 {
            H5Dwrite(dataset, row_type.0, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.as_ptr().cast())
        } else {
            0
        };
        if dataset >= 0 {
            hdf5_sys::h5d::H5Dclose(dataset);
        }
        H5Pclose(dcpl);
        H5Sclose(space);
        status
    };
    if status < 0 {
        return Err(format!("cannot write table {path} in {}", file.filename()));
    }
    file.dataset(path).map_err(h5err)
}

/// The group `path` of `file`, made (with its parents) where missing.
pub fn group_path(file: &hdf5::File, path: &str) -> Result<hdf5::Group, String> {
    let mut group = file.group("/").map_err(h5err)?;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        group = match group.group(part) {
            Ok(g) => g,
            Err(_) => group.create_group(part).map_err(h5err)?,
        };
    }
    Ok(group)
}

pub fn text_attr(location: &hdf5::Location, name: &str, value: &str) -> Result<(), String> {
    let value: VarLenUnicode = value.parse().map_err(|e| format!("attribute {name}: {e}"))?;
    location.new_attr::<VarLenUnicode>().create(name).and_then(|a| a.write_scalar(&value)).map_err(h5err)
}

fn int_attr(location: &hdf5::Location, name: &str, value: i64) -> Result<(), String> {
    location.new_attr::<i64>().create(name).and_then(|a| a.write_scalar(&value)).map_err(h5err)
}

fn float_attr(location: &hdf5::Location, name: &str, value: f64) -> Result<(), String> {
    location.new_attr::<f64>().create(name).and_then(|a| a.write_scalar(&value)).map_err(h5err)
}

/// ctapipe's column metadata: units (`""`: a dimensionless quantity), fixed-length strings
/// and the event-type enum, by column name.
pub fn column_meta(table: &hdf5::Dataset, columns: &[Column], units: &[(&str, &str)], enums: &[&str]) -> Result<(), String> {
    for (i, column) in columns.iter().enumerate() {
        if let Some((_, unit)) = units.iter().find(|(name, _)| *name == column.name) {
            text_attr(table, &format!("CTAFIELD_{i}_TRANSFORM"), "quantity")?;
            text_attr(table, &format!("CTAFIELD_{i}_UNIT"), unit)?;
        }
        if enums.contains(&column.name) {
            text_attr(table, &format!("CTAFIELD_{i}_TRANSFORM"), "enum")?;
            // Bytes, not text: ctapipe unpickles it.
            let class = VarLenAscii::from_ascii(EVENT_TYPE_ENUM).map_err(|e| format!("{e}"))?;
            table.new_attr::<VarLenAscii>().create(format!("CTAFIELD_{i}_ENUM").as_str()).and_then(|a| a.write_scalar(&class)).map_err(h5err)?;
        }
        if let Values::Str(n, _) = column.values {
            text_attr(table, &format!("CTAFIELD_{i}_TRANSFORM"), "string")?;
            int_attr(table, &format!("CTAFIELD_{i}_MAXLEN"), n as i64)?;
        }
    }
    Ok(())
}

/// The version strings of lstchain's `MetaData`, on the file and on every table.
pub fn versions(location: &hdf5::Location) -> Result<(), String> {
    for (name, value) in [
        ("LSTCHAIN_VERSION", LSTCHAIN_VERSION),
        ("CTAPIPE_VERSION", CTAPIPE_VERSION),
        ("CTAPIPE_IO_LST_VERSION", CTAPIPE_IO_LST_VERSION),
        ("CONTACT", "LST Consortium"),
    ] {
        text_attr(location, name, value)?;
    }
    Ok(())
}

/// An event or monitoring table: columns, ctapipe's metadata, versions and the configuration.
pub fn write_event_table(
    file: &hdf5::File,
    path: &str,
    columns: &[Column],
    units: &[(&str, &str)],
    enums: &[&str],
    config: &str,
) -> Result<hdf5::Dataset, String> {
    let table = write_table(file, path, columns)?;
    column_meta(&table, columns, units, enums)?;
    versions(&table)?;
    text_attr(&table, "config", config)?;
    Ok(table)
}

/// The generated LSTCam: 1855 hexagonal pixels on a hexagonal grid, nearest the centre first.
pub fn camera_pixels() -> (Vec<f64>, Vec<f64>) {
    let mut cells: Vec<(f64, f64)> = Vec::new();
    for q in -25i32..=25 {
        for r in -25i32..=25 {
            if (q + r).abs() <= 25 {
                let x = PIXEL_PITCH * (f64::from(q) + f64::from(r) / 2.0);
                let y = PIXEL_PITCH * f64::from(r) * 3f64.sqrt() / 2.0;
                cells.push((x, y));
            }
        }
    }
    cells.sort_by(|a, b| a.0.hypot(a.1).total_cmp(&b.0.hypot(b.1)).then(a.1.atan2(a.0).total_cmp(&b.1.atan2(b.0))));
    cells.truncate(N_PIXELS);
    cells.into_iter().unzip()
}

/// `/configuration/instrument`: LST-1 alone, with the generated camera.
pub fn write_instrument(file: &hdf5::File) -> Result<(), String> {
    let text = |n: usize, s: &str| Values::Str(n, vec![s.to_string()]);
    let layout = [
        scalar("tel_id", Values::U16(vec![1])),
        scalar("name", text(3, "LST")),
        scalar("type", text(3, "LST")),
        scalar("pos_x", Values::F64(vec![50.0])),
        scalar("pos_y", Values::F64(vec![50.0])),
        scalar("pos_z", Values::F64(vec![16.0])),
        scalar("camera_name", text(6, "LSTCam")),
        scalar("optics_name", text(3, "LST")),
        scalar("camera_index", Values::I64(vec![0])),
        scalar("optics_index", Values::I64(vec![0])),
        scalar("tel_description", text(14, "LST_LST_LSTCam")),
    ];
    let table = write_table(file, "configuration/instrument/subarray/layout", &layout)?;
    column_meta(&table, &layout, &[("pos_x", "m"), ("pos_y", "m"), ("pos_z", "m")], &[])?;
    subarray_attrs(&table, "2.0", "subarray")?;
    text_attr(&table, "name", "LST-1 subarray")?;
    // The array's reference point (La Palma, ITRS metres).
    for (axis, value) in [("x", 5326835.893), ("y", -1719648.155), ("z", 3051816.063)] {
        float_attr(&table, &format!("reference_itrs_{axis}"), value)?;
    }

    let optics = [
        scalar("optics_name", text(3, "LST")),
        scalar("size_type", text(3, "LST")),
        scalar("reflector_shape", text(9, "PARABOLIC")),
        scalar("mirror_area", Values::F64(vec![386.73])),
        scalar("n_mirrors", Values::I64(vec![1])),
        scalar("n_mirror_tiles", Values::I64(vec![198])),
        scalar("equivalent_focal_length", Values::F64(vec![FOCAL_LENGTH])),
        scalar("effective_focal_length", Values::F64(vec![29.3])),
    ];
    let table = write_table(file, "configuration/instrument/telescope/optics", &optics)?;
    column_meta(&table, &optics, &[("mirror_area", "m**2"), ("equivalent_focal_length", "m"), ("effective_focal_length", "m")], &[])?;
    subarray_attrs(&table, "4.0", "optics")?;

    let (x, y) = camera_pixels();
    let geometry = [
        scalar("pix_id", Values::I64((0..N_PIXELS as i64).collect())),
        scalar("pix_x", Values::F64(x)),
        scalar("pix_y", Values::F64(y)),
        scalar("pix_area", Values::F64(vec![3f64.sqrt() / 2.0 * PIXEL_PITCH * PIXEL_PITCH; N_PIXELS])),
    ];
    let table = write_table(file, "configuration/instrument/telescope/camera/geometry_0", &geometry)?;
    column_meta(&table, &geometry, &[("pix_x", "m"), ("pix_y", "m"), ("pix_area", "m**2")], &[])?;
    text_attr(&table, "TAB_VER", "2.0")?;
    text_attr(&table, "TAB_TYPE", "ctapipe.instrument.CameraGeometry")?;
    text_attr(&table, "PIX_TYPE", "hexagon")?;
    text_attr(&table, "CAM_ID", "LSTCam")?;
    float_attr(&table, "PIX_ROT", 0.0)?;
    float_attr(&table, "CAM_ROT", 0.0)?;

    // The reference pulse: a Gaussian of 1.2 ns sigma per gain, sampled every 1/40.96 ns.
    let step = 1.0 / 40.96;
    let samples = 1640;
    let time: Vec<f64> = (0..samples).map(|i| f64::from(i) * step).collect();
    let pulse: Vec<f64> = time.iter().map(|t| (-0.5 * ((t - 20.0) / 1.2).powi(2)).exp()).collect();
    let readout = [
        scalar("reference_pulse_shape_channel0", Values::F64(pulse.clone())),
        scalar("reference_pulse_shape_channel1", Values::F64(pulse)),
        scalar("reference_pulse_sample_time", Values::F64(time)),
    ];
    let table = write_table(file, "configuration/instrument/telescope/camera/readout_0", &readout)?;
    column_meta(&table, &readout, &[("reference_pulse_sample_time", "ns")], &[])?;
    text_attr(&table, "TAB_VER", "3.0")?;
    text_attr(&table, "TAB_TYPE", "ctapipe.instrument.CameraReadout")?;
    text_attr(&table, "CAM_ID", "LSTCam")?;
    int_attr(&table, "NCHAN", N_GAINS as i64)?;
    int_attr(&table, "NPIXELS", N_PIXELS as i64)?;
    int_attr(&table, "NSAMPLES", 40)?;
    float_attr(&table, "REFWIDTH", step)?;
    float_attr(&table, "SAMPFREQ", 1.024)?;
    Ok(())
}

fn subarray_attrs(table: &hdf5::Dataset, version: &str, kind: &str) -> Result<(), String> {
    text_attr(table, "TAB_VER", version)?;
    text_attr(table, "TAB_TYPE", kind)?;
    text_attr(table, "ORIGIN", "ctapipe.instrument.SubarrayDescription")?;
    text_attr(table, "SOFT_VER", CTAPIPE_VERSION)?;
    text_attr(table, "SUBARRAY", "LST-1 subarray")
}

/// The monitoring tables r0_to_dl1 writes: pedestal, flat-field and calibration coefficients
/// per gain and pixel, one row from the calibration file and one from the interleaved events
/// (`times`: the first and last event's time).
pub fn write_monitoring(file: &hdf5::File, times: [f64; 2], config: &str) -> Result<(), String> {
    const PER_GAIN: [usize; 2] = [N_GAINS, N_PIXELS];
    let cells = N_GAINS * N_PIXELS;
    let per_gain = |high: f64, low: f64| -> Vec<f64> {
        (0..2).flat_map(|_| (0..N_GAINS).flat_map(move |g| std::iter::repeat_n(if g == 0 { high } else { low }, N_PIXELS))).collect()
    };
    let index = || {
        vec![
            scalar("tel_id", Values::I64(vec![1, 1])),
            scalar("calibration_id", Values::I64(vec![0, 1])),
            scalar("pedestal_id", Values::I64(vec![0, 1])),
            scalar("flatfield_id", Values::I64(vec![0, 1])),
        ]
    };
    let window = |prefix: &'static str| -> [Column; 3] {
        let (at, min, max) = match prefix {
            "time" => ("time", "time_min", "time_max"),
            _ => ("sample_time", "sample_time_min", "sample_time_max"),
        };
        [
            scalar(at, Values::F64(times.to_vec())),
            scalar(min, Values::F64(times.iter().map(|t| t - 1.0).collect())),
            scalar(max, Values::F64(times.iter().map(|t| t + 1.0).collect())),
        ]
    };
    let flags = || Values::Bool(vec![false; 2 * cells]);
    let time_units = [("sample_time", "s"), ("sample_time_min", "s"), ("sample_time_max", "s")];

    let mut pedestal = index();
    pedestal.push(scalar("n_events", Values::I64(vec![100, 100])));
    pedestal.extend(window("sample_time"));
    pedestal.push(array("charge_mean", &PER_GAIN, Values::F64(vec![0.0; 2 * cells])));
    pedestal.push(array("charge_median", &PER_GAIN, Values::F64(vec![0.0; 2 * cells])));
    // Pedestal charge spread in ADC counts (high, low gain): the cleaning's pixel thresholds.
    pedestal.push(array("charge_std", &PER_GAIN, Values::F64(per_gain(100.0, 6.0))));
    pedestal.push(array("charge_median_outliers", &PER_GAIN, flags()));
    pedestal.push(array("charge_std_outliers", &PER_GAIN, flags()));
    write_event_table(file, &format!("{MONITORING_GROUP}/pedestal"), &pedestal, &time_units, &[], config)?;

    let dc_to_pe = [0.0125, 0.25];
    let mut flatfield = index();
    flatfield.extend(window("sample_time"));
    flatfield.push(scalar("n_events", Values::I64(vec![100, 100])));
    for (name, high, low) in [
        ("charge_mean", 72.0 / dc_to_pe[0], 72.0 / dc_to_pe[1]),
        ("charge_median", 72.0 / dc_to_pe[0], 72.0 / dc_to_pe[1]),
        ("charge_std", 8.0 / dc_to_pe[0], 8.0 / dc_to_pe[1]),
        ("time_mean", 20.0, 20.0),
        ("time_median", 20.0, 20.0),
        ("time_std", 0.5, 0.5),
        ("relative_gain_mean", 1.0, 1.0),
        ("relative_gain_median", 1.0, 1.0),
        ("relative_gain_std", 0.05, 0.05),
        ("relative_time_median", 0.0, 0.0),
    ] {
        flatfield.push(array(name, &PER_GAIN, Values::F64(per_gain(high, low))));
    }
    for name in ["charge_median_outliers", "charge_std_outliers", "time_median_outliers"] {
        flatfield.push(array(name, &PER_GAIN, flags()));
    }
    let ns = [("time_mean", "ns"), ("time_median", "ns"), ("time_std", "ns"), ("relative_time_median", "ns")];
    write_event_table(file, &format!("{MONITORING_GROUP}/flatfield"), &flatfield, &[&time_units[..], &ns[..]].concat(), &[], config)?;

    let mut calibration = index();
    calibration.extend(window("time"));
    calibration.push(array("dc_to_pe", &PER_GAIN, Values::F64(per_gain(dc_to_pe[0], dc_to_pe[1]))));
    calibration.push(array("pedestal_per_sample", &PER_GAIN, Values::F64(vec![400.0; 2 * cells])));
    calibration.push(array("time_correction", &PER_GAIN, Values::F64(vec![0.0; 2 * cells])));
    calibration.push(array("n_pe", &PER_GAIN, Values::F64(vec![72.0; 2 * cells])));
    calibration.push(array("unusable_pixels", &PER_GAIN, flags()));
    let units = [("time", "s"), ("time_min", "s"), ("time_max", "s"), ("time_correction", "ns")];
    write_event_table(file, &format!("{MONITORING_GROUP}/calibration"), &calibration, &units, &[], config)?;
    Ok(())
}

/// Every table under `group`, depth first.
pub fn all_tables(group: &hdf5::Group) -> Vec<hdf5::Dataset> {
    let mut tables = group.datasets().unwrap_or_default();
    for child in group.groups().unwrap_or_default() {
        tables.extend(all_tables(&child));
    }
    tables
}

/// Appends the rows of `source` to `target`, a table of the same compound type.
pub fn append_rows(target: &hdf5::Dataset, source: &hdf5::Dataset) -> Result<(), String> {
    use hdf5_sys::h5d::H5Dget_space;
    use hdf5_sys::h5d::{H5Dget_type, H5Dread};
    use hdf5_sys::h5s::{H5S_seloper_t, H5Sselect_hyperslab};
    let rows = source.shape().first().copied().unwrap_or(0);
    let before = target.shape().first().copied().unwrap_or(0);
    if rows == 0 {
        return Ok(());
    }
    target.resize(before + rows).map_err(h5err)?;
    // SAFETY: HDF5 calls on the datasets' own ids; the buffer holds `rows` rows of the
    // source's type, written with the same type into a selection of `rows` rows.
    let status = unsafe {
        let dtype = H5Dget_type(source.id());
        let size = hdf5_sys::h5t::H5Tget_size(dtype);
        let mut buffer = vec![0u8; size * rows];
        let mut status = H5Dread(source.id(), dtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.as_mut_ptr().cast());
        if status >= 0 {
            let file_space = H5Dget_space(target.id());
            let (start, count) = ([before as hsize_t], [rows as hsize_t]);
            H5Sselect_hyperslab(file_space, H5S_seloper_t::H5S_SELECT_SET, start.as_ptr(), std::ptr::null(), count.as_ptr(), std::ptr::null());
            let memory = H5Screate_simple(1, count.as_ptr(), std::ptr::null());
            status = H5Dwrite(target.id(), dtype, memory, file_space, H5P_DEFAULT, buffer.as_ptr().cast());
            H5Sclose(memory);
            H5Sclose(file_space);
        }
        H5Tclose(dtype);
        status
    };
    if status < 0 {
        return Err(format!("cannot append {} to {}", source.name(), target.name()));
    }
    Ok(())
}

/// Rows of `base` (packed, `base_size` bytes each), each followed by its row of `columns`.
pub fn join_rows(base: &[u8], base_size: usize, columns: &[Column]) -> Vec<u8> {
    let rows = base.len() / base_size.max(1);
    let mut out = Vec::with_capacity(base.len() + rows * columns.iter().map(|c| c.per_row() * c.values.element_size()).sum::<usize>());
    for row in 0..rows {
        out.extend_from_slice(&base[row * base_size..(row + 1) * base_size]);
        for column in columns {
            let n = column.per_row();
            for i in row * n..(row + 1) * n {
                column.values.put(i, &mut out);
            }
        }
    }
    out
}

/// A one-dimensional array of fixed-length strings (what PyTables stores for a list of names).
pub fn write_strings(file: &hdf5::File, path: &str, values: &[String]) -> Result<(), String> {
    let width = values.iter().map(String::len).max().unwrap_or(1).max(1);
    let mut buffer = Vec::with_capacity(width * values.len());
    for value in values {
        let mut bytes = value.as_bytes().to_vec();
        bytes.resize(width, 0);
        buffer.extend(bytes);
    }
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let group = group_path(file, parent)?;
    let c_name = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: ids created and closed here; the buffer holds `values.len()` strings of `width`.
    let status = unsafe {
        let text = H5Tcopy(*H5T_C_S1);
        H5Tset_size(text, width);
        H5Tset_strpad(text, H5T_str_t::H5T_STR_NULLPAD);
        let space = H5Screate_simple(1, [values.len() as hsize_t].as_ptr(), std::ptr::null());
        let dataset = H5Dcreate2(group.id(), c_name.as_ptr(), text, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        let status = if dataset < 0 { -1 } else { H5Dwrite(dataset, text, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.as_ptr().cast()) };
        if dataset >= 0 {
            hdf5_sys::h5d::H5Dclose(dataset);
        }
        H5Sclose(space);
        H5Tclose(text);
        status
    };
    if status < 0 {
        return Err(format!("cannot write {path} in {}", file.filename()));
    }
    Ok(())
}

/// Copies the group `path` (with everything under it) from `source` into `target`.
pub fn copy_group(source: &hdf5::File, target: &hdf5::File, path: &str) -> Result<(), String> {
    let c_path = CString::new(path).map_err(|e| e.to_string())?;
    // SAFETY: both files are open; the path names an object of `source`.
    let status = unsafe { hdf5_sys::h5o::H5Ocopy(source.id(), c_path.as_ptr(), target.id(), c_path.as_ptr(), H5P_DEFAULT, H5P_DEFAULT) };
    if status < 0 {
        return Err(format!("cannot copy {path} from {} to {}", source.filename(), target.filename()));
    }
    Ok(())
}
