// imageio.cxx - the ITK side of the C image I/O layer (imageio.h). The only C++ in Logic/.
//
// Everything ITK throws is caught here and turned into a qr_status with a one-line message that
// names the file; no exception crosses the extern "C" boundary.
#include "imageio.h"

extern "C" {
#include "../core/fileutil.h"
#include "filecheck.h"
#include "geometry.h"
}

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <zlib.h>

#include <gdcmTrace.h>
#include <gdcmUIDGenerator.h>
#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkIdentityTransform.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>
#include <itkImageSeriesReader.h>
#include <itkImageSeriesWriter.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkMetaDataObject.h>
#include <itkMultiThreaderBase.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

namespace {

using FloatImage = itk::Image<float, 3>;
using DoubleImage = itk::Image<double, 3>;
using IntImage = itk::Image<int32_t, 3>;

// ITK's multi-line exception descriptions, squeezed to one line.
std::string one_line(const std::string &s) {
    std::string out;
    bool space = false;
    for (char c : s) {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

// Before any ITK or GDCM object is made. ITK and GDCM print warnings to stderr on their own; the
// library never prints. ITK's default thread pool starts its threads when the first filter,
// reader or writer is made, inside a constructor that cannot report a failure: where threads
// cannot be created (an address-space limit: each stack is reserved whole) the process ended in
// std::terminate. ITK's platform threader creates threads only while a filter runs (resampling)
// and reports a failure as an exception, which is caught below.
void setup_toolkits() {
    static std::once_flag once;
    std::call_once(once, [] {
        itk::MultiThreaderBase::SetGlobalDefaultThreader(itk::MultiThreaderBase::ThreaderEnum::Platform);
        itk::Object::GlobalWarningDisplayOff();
        gdcm::Trace::WarningOff();
        gdcm::Trace::DebugOff();
    });
}

// ITK's readers run one at a time: MuteStreams swaps the process-wide std::cerr/std::cout
// buffers (two threads interleaving their save/restore leave std::cerr on a destroyed sink), and
// NiftiImageIO::ReadImageInformation keeps a function-static std::string. `qsmrim phantom`
// workers read back what they wrote (verify_written) in parallel.
std::mutex g_itk_read_lock;

// Some readers (MetaIO, NIfTI) write to std::cerr/std::cout directly; mute them while ITK runs.
struct MuteStreams {
    std::ostringstream sink; // declared first: constructed before err/out take its buffer
    std::streambuf *err, *out;
    MuteStreams() : err(std::cerr.rdbuf(sink.rdbuf())), out(std::cout.rdbuf(sink.rdbuf())) {}
    ~MuteStreams() {
        std::cerr.rdbuf(err);
        std::cout.rdbuf(out);
    }
};

bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

template <class TImage>
void geometry_from_itk(const TImage *img, qr_geometry *g) {
    auto size = img->GetLargestPossibleRegion().GetSize();
    auto sp = img->GetSpacing();
    auto org = img->GetOrigin();
    auto dir = img->GetDirection();
    for (int a = 0; a < 3; a++) {
        g->size[a] = (int64_t)size[a];
        g->spacing[a] = sp[a];
        g->origin[a] = org[a] + 0.0; // -0 as 0 (an offset of 0 turned from RAS to LPS is -0)
        for (int c = 0; c < 3; c++) g->direction[3 * a + c] = dir[a][c] + 0.0;
    }
}

template <class TImage>
typename TImage::Pointer make_itk_image(const qr_geometry *g) {
    auto img = TImage::New();
    typename TImage::SizeType size;
    typename TImage::SpacingType sp;
    typename TImage::PointType org;
    typename TImage::DirectionType dir;
    for (int a = 0; a < 3; a++) {
        size[a] = (itk::SizeValueType)g->size[a];
        sp[a] = g->spacing[a];
        org[a] = g->origin[a];
        for (int c = 0; c < 3; c++) dir[a][c] = g->direction[3 * a + c];
    }
    typename TImage::RegionType region;
    region.SetSize(size);
    img->SetRegions(region);
    img->SetSpacing(sp);
    img->SetOrigin(org);
    img->SetDirection(dir);
    return img;
}

// An ITK image that views the volume's buffer without copying or owning it.
template <class TImage, class TPixel>
typename TImage::Pointer view_as_itk(const qr_volume *v) {
    auto img = make_itk_image<TImage>(&v->geom);
    img->GetPixelContainer()->SetImportPointer(static_cast<TPixel *>(v->data), (size_t)qr_volume_nvox(v), false);
    return img;
}

// ---- reading ----

// A name for ITK to open a file under, in a private temporary folder, when the file's own name
// would mislead or break a toolkit (see resolve_read and resolve_write). The folder and link go
// when the object does.
class PrivateName {
  public:
    PrivateName() = default;
    PrivateName(const PrivateName &) = delete;
    PrivateName &operator=(const PrivateName &) = delete;
    ~PrivateName() {
        if (!link_.empty()) unlink(link_.c_str());
        if (!dir_.empty()) rmdir(dir_.c_str());
    }

    // The name ITK should read `path` under: `path` itself, or a private one.
    //
    // ITK 5.2's NIfTI library looks for the voxel data of a single-file NIfTI by name, trying
    // "<base>.nii" before "<base>.nii.gz" (nifti_findimgname): reading x.nii.gz with another image
    // x.nii beside it (an unpacked copy, an older version) takes x.nii.gz's header and x.nii's
    // voxels, without a word. Such a file is read through a link to it alone.
    //
    // teem, ITK's NRRD library, formats its error messages into 1,024 bytes without a bound, and
    // they quote the file's path: with a path of about 1,000 characters any error in the file
    // (a bad field, a missing data file) aborted the process. A NRRD file with a long path is
    // read through a short link to its folder, where a detached data file is found as beside it.
    qr_status resolve_read(const char *path, const char **use) {
        *use = path;
        const size_t n = std::strlen(path);
        if (n >= 8 && strcasecmp(path + n - 7, ".nii.gz") == 0) {
            const std::string base(path, n - 7);
            if (!exists((base + ".nii").c_str()) && !exists((base + ".NII").c_str())) return QR_OK;
            char real[PATH_MAX];
            if (!realpath(path, real))
                return qr_fail(QR_ERR_IO, "%s: cannot resolve its path (%s)", path, std::strerror(errno));
            if (const int e = make_dir())
                return qr_fail(QR_ERR_IO,
                               "%s: an image %s.nii lies beside it, which the NIfTI reader would take the voxels from, "
                               "and no private temporary folder could be made to avoid that (%s)",
                               path, base.c_str(), std::strerror(e));
            QR_TRY(make_link(real, "image.nii.gz", path));
            shown_ = path;
            *use = link_.c_str();
            return QR_OK;
        }
        return folder_link(path, use);
    }

    // A toolkit's message with the private name replaced by what it stands for.
    std::string unmask(std::string text) const {
        if (link_.empty()) return text;
        for (size_t at = text.find(link_); at != std::string::npos; at = text.find(link_, at + shown_.size()))
            text.replace(at, link_.size(), shown_);
        return text;
    }

    // The name ITK should write `path` (a staged file) under: itself, or through a short link to
    // its folder when it is a NRRD file with a long path (teem's messages, as above).
    qr_status resolve_write(const char *path, const char **use) { return folder_link(path, use); }

  private:
    static constexpr size_t kTeemPathMax = 512; // room for teem's longest message around the path

    qr_status folder_link(const char *path, const char **use) {
        *use = path;
        const bool nrrd = qr_path_has_suffix(path, ".nrrd") || qr_path_has_suffix(path, ".nhdr");
        if (!nrrd || std::strlen(path) < kTeemPathMax) return QR_OK;
        const char *base = qr_path_basename(path);
        std::string folder(path, (size_t)(base - path));
        if (folder.empty()) folder = ".";
        char real[PATH_MAX];
        if (!realpath(folder.c_str(), real))
            return qr_fail(QR_ERR_IO, "%s: cannot resolve its folder (%s)", path, std::strerror(errno));
        if (const int e = make_dir())
            return qr_fail(QR_ERR_IO,
                           "%s: the NRRD library cannot take a path of %zu characters, and no private temporary "
                           "folder could be made for a shorter one (%s)",
                           path, std::strlen(path), std::strerror(e));
        QR_TRY(make_link(real, "f", path));
        shown_ = folder.size() > 1 && folder.back() == '/' ? folder.substr(0, folder.size() - 1) : folder;
        name_ = link_ + "/" + base;
        *use = name_.c_str();
        return QR_OK;
    }

    // The private folder, in TMPDIR (/tmp when unset or long): 0, or the errno of the failure.
    int make_dir() {
        const char *tmp = std::getenv("TMPDIR");
        if (!tmp || !*tmp || std::strlen(tmp) > 200) tmp = "/tmp";
        std::string templ = std::string(tmp) + "/qsmrim-io-XXXXXX";
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        if (!mkdtemp(buf.data())) return errno;
        dir_ = buf.data();
        return 0;
    }

    qr_status make_link(const char *target, const char *name, const char *path) {
        const std::string link = dir_ + "/" + name;
        if (symlink(target, link.c_str()) != 0)
            return qr_fail(QR_ERR_IO, "%s: cannot make a private link to read it through (%s)", path, std::strerror(errno));
        link_ = link;
        return QR_OK;
    }

    std::string dir_, link_, name_, shown_; // shown_: what the link stands for, in messages
};

// `name`: the private name ITK opened the file under, if any (its messages then name the file).
qr_status fail_itk(qr_status s, const char *path, const char *what, const itk::ExceptionObject &e,
                   const PrivateName *name = nullptr) {
    // ITK turns a failed allocation of an image's buffer into an exception of its own: memory ran
    // out, whatever the file holds (`what` would call the file damaged)
    if (dynamic_cast<const itk::MemoryAllocationError *>(&e))
        return qr_fail(QR_ERR_NOMEM, "%s: out of memory (the image toolkit could not allocate the image)", path);
    const std::string text = name ? name->unmask(e.GetDescription()) : std::string(e.GetDescription());
    return qr_fail(s, "%s: %s (%s)", path, what, one_line(text).c_str());
}

struct FileHeader {
    itk::ImageIOBase::Pointer io;
    std::vector<std::string> dicom_files; // non-empty for a DICOM series
    PrivateName name;                     // ITK reads the file under `use`: its path or a private name
    const char *use = nullptr;
};

qr_status open_header(const char *path, FileHeader *h, qr_read_info *info) {
    setup_toolkits();
    if (!path || !*path) return qr_fail(QR_ERR_INVALID_ARG, "no image path given");
    if (!exists(path)) return qr_fail(QR_ERR_IO, "%s: no such file or folder", path);
    QR_TRY(qr_image_precheck(path));
    std::lock_guard<std::mutex> lock(g_itk_read_lock);
    if (qr_path_is_dir(path)) {
        try {
            auto names = itk::GDCMSeriesFileNames::New();
            names->SetUseSeriesDetails(true);
            names->SetDirectory(path);
            const auto &uids = names->GetSeriesUIDs();
            if (uids.empty()) return qr_fail(QR_ERR_FORMAT, "%s: folder holds no DICOM series", path);
            if (uids.size() > 1)
                qr_log(QR_LOG_NOTICE, "%s holds %zu DICOM series; reading the first (%s)", path, uids.size(),
                       uids.front().c_str());
            h->dicom_files = names->GetFileNames(uids.front());
            auto io = itk::GDCMImageIO::New();
            io->SetFileName(h->dicom_files.front());
            io->ReadImageInformation();
            h->io = io;
        } catch (const itk::ExceptionObject &e) {
            return fail_itk(QR_ERR_FORMAT, path, "cannot read the DICOM series", e);
        }
        if (info) info->is_dicom = 1;
        return QR_OK;
    }
    h->io = itk::ImageIOFactory::CreateImageIO(path, itk::ImageIOFactory::ReadMode);
    if (!h->io && qr_memory_short((size_t)32 << 20)) // each reader's CanReadFile said no for want of memory
        return qr_fail(QR_ERR_NOMEM, "%s: cannot be read: out of memory", path);
    if (!h->io)
        return qr_fail(QR_ERR_FORMAT,
                       "%s: not a readable image (format not recognised or header corrupt; "
                       "expected NIfTI, NRRD, MetaImage or a DICOM folder)",
                       path);
    QR_TRY(h->name.resolve_read(path, &h->use));
    try {
        MuteStreams mute;
        h->io->SetFileName(h->use);
        h->io->ReadImageInformation();
    } catch (const itk::ExceptionObject &e) {
        return fail_itk(QR_ERR_FORMAT, path, "corrupt image header", e, &h->name);
    }
    return QR_OK;
}

qr_status check_header(const char *path, const FileHeader &h, qr_read_info *info) {
    const auto &io = h.io;
    unsigned nd = io->GetNumberOfDimensions();
    if (info) {
        info->file_dimensions = (int)nd;
        std::snprintf(info->component_type, sizeof info->component_type, "%s",
                      itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType()).c_str());
    }
    if (nd < 3 && h.dicom_files.size() <= 1) {
        std::ostringstream sz;
        for (unsigned a = 0; a < nd; a++) sz << (a ? "x" : "") << io->GetDimensions(a);
        return qr_fail(QR_ERR_GEOMETRY, "%s: is a %uD image (%s); a 3D volume is required", path, nd,
                       sz.str().c_str());
    }
    for (unsigned a = 3; a < nd; a++)
        if (io->GetDimensions(a) > 1)
            return qr_fail(QR_ERR_GEOMETRY,
                           "%s: is a %uD image (%llu volumes along axis %u); a single 3D volume is required", path, nd,
                           (unsigned long long)io->GetDimensions(a), a);
    if (io->GetNumberOfComponents() != 1)
        return qr_fail(QR_ERR_FORMAT, "%s: has %u components per voxel (vector or colour image); a scalar volume is required",
                       path, io->GetNumberOfComponents());
    return QR_OK;
}

// One pass over a NIfTI file's decompressed bytes does what ITK 5's NIfTI reader would not do
// truthfully, and for the common files it also decodes the voxels, so a .nii.gz is decompressed
// once instead of twice (here and in ITK):
//  - ITK's NIfTI reader accepts an uncompressed .nii whose voxel data is cut short (it fills the
//    rest): the byte count is compared with what the NIfTI-1 header declares (a cut .nii.gz
//    stream fails to decompress and is reported too).
//  - ITK 5's NIfTI library (nifti_read_buffer) silently replaces every NaN and +-Inf voxel of a
//    float or double image by 0 (fixed upstream only in ITK 6). A QSM with NaN outside its mask
//    would then look like real zeros.
//  - Direct decoding (NiftiPass::out): a single-file NIfTI-1 (.nii, .nii.gz) that is 3D, scalar,
//    of a real integer or floating data type and needs no scl_slope/scl_inter rescaling is read
//    here, voxels cast to the requested type exactly as ITK's reader casts them, non-finite values
//    kept. The file order is ITK's buffer order (the NIfTI reader does not reorder voxels). The
//    geometry still comes from ITK's reading of the header. Everything else goes through ITK,
//    and its non-finite float voxels are kept here as runs of one value and put back after ITK's
//    read (a QSM's NaN background is a few long runs).
// Both paths are tested to give identical volumes (test_imageio).
struct NiftiRun {
    int64_t start, length;
    double value;
};
struct NiftiScan {
    std::vector<NiftiRun> runs; // in file order
    void add(int64_t i, double v) {
        if (!runs.empty()) {
            NiftiRun &r = runs.back();
            if (r.start + r.length == i && std::memcmp(&r.value, &v, sizeof v) == 0) {
                r.length++;
                return;
            }
        }
        runs.push_back(NiftiRun{i, 1, v});
    }
};

// NIfTI-1 data types decoded here (the real scalar ones); 0 for others.
int nifti_direct_bytes(int datatype) {
    switch (datatype) {
    case 2: case 256: return 1;    // uint8, int8
    case 4: case 512: return 2;    // int16, uint16
    case 8: case 768: case 16: return 4; // int32, uint32, float32
    case 1024: case 1280: case 64: return 8; // int64, uint64, float64
    default: return 0;
    }
}

// `count` whole voxels of the file's type at p (file byte order, swapped when `swap`) into
// out[0..count), each cast to T the way ITK's reader converts pixel buffers: one static_cast from
// the file's type.
template <class T, class F>
void nifti_decode_as(const unsigned char *p, int64_t count, bool swap, T *out) {
    unsigned char b[sizeof(F)];
    for (int64_t i = 0; i < count; i++, p += sizeof(F)) {
        F v;
        if (swap) {
            for (size_t k = 0; k < sizeof(F); k++) b[k] = p[sizeof(F) - 1 - k];
            std::memcpy(&v, b, sizeof(F));
        } else {
            std::memcpy(&v, p, sizeof(F));
        }
        out[i] = static_cast<T>(v);
    }
}
template <class T>
void nifti_decode(const unsigned char *p, int64_t count, int datatype, bool swap, T *out) {
    switch (datatype) {
    case 2: nifti_decode_as<T, uint8_t>(p, count, swap, out); break;
    case 256: nifti_decode_as<T, int8_t>(p, count, swap, out); break;
    case 4: nifti_decode_as<T, int16_t>(p, count, swap, out); break;
    case 512: nifti_decode_as<T, uint16_t>(p, count, swap, out); break;
    case 8: nifti_decode_as<T, int32_t>(p, count, swap, out); break;
    case 768: nifti_decode_as<T, uint32_t>(p, count, swap, out); break;
    case 16: nifti_decode_as<T, float>(p, count, swap, out); break;
    case 1024: nifti_decode_as<T, int64_t>(p, count, swap, out); break;
    case 1280: nifti_decode_as<T, uint64_t>(p, count, swap, out); break;
    default: nifti_decode_as<T, double>(p, count, swap, out); break; // 64
    }
}

// What a pass does: with `out` set, decode every voxel into it (float or double, nvox of them);
// otherwise collect the non-finite float/double voxels into `scan`.
struct NiftiPass {
    NiftiScan *scan = nullptr;
    void *out = nullptr;
    bool out_double = false;
    int64_t nvox = 0;
};

// Fields of a 348-byte NIfTI-1 header in either byte order (sizeof_hdr tells which).
struct NiftiHeader {
    const unsigned char *h;
    bool swap;
    explicit NiftiHeader(const unsigned char *bytes) : h(bytes) {
        int32_t sz;
        std::memcpy(&sz, h, 4);
        swap = sz != 348;
    }
    int16_t i16(int off) const {
        uint16_t x;
        std::memcpy(&x, h + off, 2);
        return (int16_t)(swap ? (uint16_t)((x >> 8) | (x << 8)) : x);
    }
    float f32(int off) const {
        uint32_t u;
        std::memcpy(&u, h + off, 4);
        if (swap) u = __builtin_bswap32(u);
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
};

// Whether the header allows direct decoding: the cases listed above. ITK's rule for rescaling:
// a non-finite slope or intercept counts as 0 (niftilib), a slope of magnitude below DBL_EPSILON
// counts as 1, and slope 1 with intercept 0 means no rescaling.
bool nifti_direct_ok(const NiftiHeader &hd) {
    if (std::memcmp(hd.h + 344, "n+1", 4) != 0 || hd.i16(40) != 3 || !nifti_direct_bytes(hd.i16(70))) return false;
    auto finite_or_0 = [](float f) { return std::isfinite(f) ? (double)f : 0.0; };
    const double eps = std::numeric_limits<double>::epsilon(), inter = finite_or_0(hd.f32(116));
    double slope = finite_or_0(hd.f32(112));
    if (std::fabs(slope) < eps) slope = 1.0;
    return std::fabs(slope - 1.0) <= eps && std::fabs(inter) <= eps;
}

qr_status nifti_pass(const char *path, NiftiPass *pass) {
    const bool gz = qr_path_has_suffix(path, ".nii.gz");
    if (!gz && !qr_path_has_suffix(path, ".nii")) return QR_OK;
    gzFile f = gzopen(path, "rb");
    if (!f && pass->out) return qr_fail(QR_ERR_IO, "%s: cannot open (%s)", path, std::strerror(errno));
    if (!f) return QR_OK; // unreadable: ITK's reader reports it
    gzbuffer(f, 1 << 18);
    unsigned char h[348] = {0};
    int got = gzread(f, h, sizeof h);
    long fsize = got > 0 ? got : 0;
    const NiftiHeader hd(h);
    const bool whole_header = got == (int)sizeof h, swap = hd.swap;
    const int datatype = whole_header ? hd.i16(70) : 0, bytes = nifti_direct_bytes(datatype);
    const bool floating = datatype == 16 || datatype == 64;
    // qr_image_precheck: vox_offset is a whole number of bytes, past the header, below
    // QR_NIFTI_MAX_OFFSET (checked again: the file may have changed since)
    const float vo = whole_header ? hd.f32(108) : 0.0f;
    if (!(vo >= 0.0f && vo <= (float)QR_NIFTI_MAX_OFFSET)) {
        gzclose(f);
        return qr_fail(QR_ERR_FORMAT, "%s: NIfTI vox_offset is %g (must be a whole number of bytes)", path, (double)vo);
    }
    const int64_t vox_offset = (int64_t)vo;
    int herr = Z_OK;
    gzerror(f, &herr);
    if (herr == Z_MEM_ERROR) { // zlib could not allocate its decompression state
        gzclose(f);
        return qr_fail(QR_ERR_NOMEM, "%s: cannot be read: out of memory", path);
    }
    // checked again here: the file may have changed since nifti_direct_file read it
    if (pass->out && (!whole_header || !nifti_direct_ok(hd))) {
        gzclose(f);
        return qr_fail(QR_ERR_INTERNAL, "%s: not a NIfTI file read directly", path);
    }
    const bool decode = pass->out != nullptr, scan = !decode && floating && pass->scan;
    float *outf = decode && !pass->out_double ? static_cast<float *>(pass->out) : nullptr;
    double *outd = decode && pass->out_double ? static_cast<double *>(pass->out) : nullptr;
    // Stream the rest in chunks; voxels from vox_offset on, one split between chunks is carried.
    std::vector<unsigned char> chunk((size_t)1 << 20);
    int64_t pos = fsize; // byte position in the uncompressed stream
    int64_t voxel = 0;
    unsigned char carry[8];
    int ncarry = 0;
    int n;
    while ((n = gzread(f, chunk.data(), (unsigned)chunk.size())) > 0) {
        int off = 0;
        if (pos < vox_offset) off = (int)std::min<int64_t>(n, vox_offset - pos);
        fsize += n;
        pos += n;
        if (!scan && !decode) continue;
        while (off < n) {
            if (decode && voxel >= pass->nvox) break; // bytes after the voxels are only counted
            const unsigned char *p;
            if (ncarry > 0 || n - off < bytes) { // a voxel split between two chunks
                int take = std::min(bytes - ncarry, n - off);
                std::memcpy(carry + ncarry, chunk.data() + off, (size_t)take);
                ncarry += take;
                off += take;
                if (ncarry < bytes) break;
                p = carry;
                ncarry = 0;
            } else {
                p = chunk.data() + off;
                off += bytes;
            }
            if (decode) { // this voxel and every whole voxel after it in the chunk at once
                const int64_t run = std::min<int64_t>(p == carry ? 1 : 1 + (n - off) / bytes, pass->nvox - voxel);
                if (outf) nifti_decode(p, run, datatype, swap, outf + voxel);
                else nifti_decode(p, run, datatype, swap, outd + voxel);
                if (p != carry) off += (int)((run - 1) * bytes);
                voxel += run;
                continue;
            }
            double v;
            if (bytes == 4) {
                uint32_t u;
                std::memcpy(&u, p, 4);
                if (swap) u = __builtin_bswap32(u);
                if ((u & 0x7f800000u) != 0x7f800000u) { // finite: the common case, no conversion
                    voxel++;
                    continue;
                }
                float x;
                std::memcpy(&x, &u, 4);
                v = x;
            } else {
                uint64_t u;
                std::memcpy(&u, p, 8);
                if (swap) u = __builtin_bswap64(u);
                std::memcpy(&v, &u, 8);
                if (std::isfinite(v)) {
                    voxel++;
                    continue;
                }
            }
            pass->scan->add(voxel++, v);
        }
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(f, &zerr);
    std::string zmessage = zmsg ? zmsg : "";
    gzclose(f);
    if (zerr == Z_MEM_ERROR) return qr_fail(QR_ERR_NOMEM, "%s: cannot be read: out of memory", path);
    if (n < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
        return qr_fail(QR_ERR_FORMAT, "%s: compressed data is corrupt or truncated (%s)", path, zmessage.c_str());
    if (!whole_header) return qr_fail(QR_ERR_FORMAT, "%s: NIfTI header truncated", path);
    double nvox = 1; // dim[0] in 1..7 and every dim[d] >= 1: checked by qr_image_precheck
    for (int d = 1; d <= hd.i16(40); d++) nvox *= hd.i16(40 + 2 * d);
    double expected = (double)vox_offset + nvox * (double)hd.i16(72) / 8.0;
    if ((double)fsize < expected)
        return qr_fail(QR_ERR_FORMAT, "%s: voxel data truncated (file has %ld bytes, header declares %.0f)", path, fsize,
                       expected);
    return QR_OK;
}

// Whether qr_image_read decodes this file itself (see nifti_pass); reads the header only.
bool nifti_direct_file(const char *path, const FileHeader &h) {
    if (!qr_path_has_suffix(path, ".nii.gz") && !qr_path_has_suffix(path, ".nii")) return false;
    if (!h.dicom_files.empty() || std::strcmp(h.io->GetNameOfClass(), "NiftiImageIO") != 0) return false;
    if (h.io->GetNumberOfDimensions() != 3 || h.io->GetNumberOfComponents() != 1) return false;
    gzFile f = gzopen(path, "rb");
    if (!f) return false;
    unsigned char hd[348];
    const int got = gzread(f, hd, sizeof hd);
    gzclose(f);
    return got == (int)sizeof hd && nifti_direct_ok(NiftiHeader(hd));
}

// ITK's image reader turns a negative spacing (a MetaImage or NRRD header may hold one) into a
// positive one along the opposite direction; a grid taken from the header alone does the same.
void flip_negative_spacing(qr_geometry *g) {
    for (int c = 0; c < 3; c++)
        if (g->spacing[c] < 0) {
            g->spacing[c] = -g->spacing[c];
            for (int a = 0; a < 3; a++) g->direction[3 * a + c] = -g->direction[3 * a + c] + 0.0;
        }
}

// The grid ITK's reader gives a 3D image, from the header ITK read.
void geometry_from_io(const itk::ImageIOBase *io, qr_geometry *g) {
    for (unsigned a = 0; a < 3; a++) {
        g->size[a] = (int64_t)io->GetDimensions(a);
        g->spacing[a] = io->GetSpacing(a);
        g->origin[a] = io->GetOrigin(a) + 0.0;
        for (unsigned c = 0; c < 3; c++) g->direction[3 * a + c] = io->GetDirection(c)[a] + 0.0; // -0 as 0, as ITK's reader
    }
    flip_negative_spacing(g);
}

// Put the non-finite voxels a scan found back into ITK's buffer of n voxels.
template <class T>
void restore_nonfinite(const NiftiScan &scan, T *buf, int64_t n) {
    for (const NiftiRun &r : scan.runs)
        for (int64_t i = r.start; i < r.start + r.length && i < n; i++) buf[i] = (T)r.value;
}

template <class TImage>
qr_status read_itk(const char *path, const FileHeader &h, typename TImage::Pointer *out, NiftiScan *scan) {
    std::lock_guard<std::mutex> lock(g_itk_read_lock);
    try {
        MuteStreams mute;
        if (!h.dicom_files.empty()) {
            auto reader = itk::ImageSeriesReader<TImage>::New();
            reader->SetImageIO(itk::GDCMImageIO::New());
            reader->SetFileNames(h.dicom_files);
            reader->Update();
            *out = reader->GetOutput();
        } else {
            NiftiPass pass;
            pass.scan = scan;
            QR_TRY(nifti_pass(path, &pass));
            QR_TRY(qr_image_check_data(path, (int64_t)h.io->GetImageSizeInPixels(),
                                       (int64_t)h.io->GetImageSizeInBytes()));
            auto reader = itk::ImageFileReader<TImage>::New();
            reader->SetImageIO(h.io);
            reader->SetFileName(h.use);
            reader->Update();
            *out = reader->GetOutput();
        }
    } catch (const itk::ExceptionObject &e) {
        return fail_itk(QR_ERR_FORMAT, path, "cannot read the voxel data (file truncated or corrupt?)", e, &h.name);
    } catch (const std::exception &e) {
        return qr_fail(QR_ERR_FORMAT, "%s: cannot read the voxel data (%s)", path, e.what());
    }
    return QR_OK;
}

// "what: text" with the text's line breaks and tabs as spaces, so the message stays one line;
// formatted in a fixed buffer (called where memory may have run out).
qr_status fail_flat(qr_status s, const char *what, const char *text) {
    char flat[4096];
    std::snprintf(flat, sizeof flat, "%s", text ? text : "");
    for (char *c = flat; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
    return qr_fail(s, "%s: %s", what, flat);
}

// No exception crosses into C: memory running out inside ITK, GDCM or the standard library
// (std::bad_alloc) becomes QR_ERR_NOMEM naming the file, anything else QR_ERR_INTERNAL. (Nothing
// here allocates: qr_fail and fail_flat format into fixed buffers.)

template <class F>
qr_status no_throw(const char *what, F &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return qr_fail(QR_ERR_NOMEM, "%s: out of memory", what);
    } catch (const itk::ExceptionObject &e) {
        return fail_flat(QR_ERR_INTERNAL, what, e.GetDescription());
    } catch (const std::exception &e) {
        return fail_flat(QR_ERR_INTERNAL, what, e.what());
    } catch (...) {
        return qr_fail(QR_ERR_INTERNAL, "%s: unexpected failure in the image toolkit", what);
    }
}

qr_status read_geometry(const char *path, qr_geometry *out) {
    FileHeader h;
    QR_TRY(open_header(path, &h, nullptr));
    QR_TRY(check_header(path, h, nullptr));
    std::memset(out, 0, sizeof *out);
    unsigned nd = std::min(3u, h.io->GetNumberOfDimensions());
    for (unsigned a = 0; a < 3; a++) {
        out->size[a] = a < nd ? (int64_t)h.io->GetDimensions(a) : 1;
        out->spacing[a] = a < nd ? h.io->GetSpacing(a) : 1.0;
        out->origin[a] = a < nd ? h.io->GetOrigin(a) : 0.0;
        for (unsigned c = 0; c < 3; c++) {
            std::vector<double> d = c < nd ? h.io->GetDirection(c) : std::vector<double>();
            out->direction[3 * a + c] = (a < d.size()) ? d[a] : (a == c ? 1.0 : 0.0);
        }
    }
    flip_negative_spacing(out);
    if (!h.dicom_files.empty()) {
        // The series' extent along the slice axis is known only after reading it.
        qr_volume v;
        QR_TRY(qr_image_read(path, QR_FLOAT32, &v, nullptr));
        *out = v.geom;
        qr_volume_free(&v);
    }
    return qr_geometry_validate(out, path);
}

} // namespace

extern "C" qr_status qr_image_read_geometry(const char *path, qr_geometry *out) {
    return no_throw(path, [&] { return read_geometry(path, out); });
}

namespace {

// Label map values, read in double precision so non-integer values are detected exactly, into an
// int32 volume on grid g.
qr_status labels_from_double(const char *path, const double *src, const qr_geometry &g, qr_volume *out) {
    QR_TRY(qr_volume_alloc(out, &g, QR_INT32));
    int32_t *dst = qr_volume_i32(out);
    const int64_t n = qr_volume_nvox(out);
    for (int64_t i = 0; i < n; i++) {
        double v = src[i];
        if (!std::isfinite(v) || v != std::floor(v)) {
            qr_volume_free(out);
            return qr_fail(QR_ERR_FORMAT,
                           "%s: is not a label map: voxel %lld holds %g (labels must be integers; "
                           "is this an intensity image or a probability map?)",
                           path, (long long)i, v);
        }
        if (v < 0 || v > (double)std::numeric_limits<int32_t>::max()) {
            qr_volume_free(out);
            return qr_fail(QR_ERR_FORMAT, "%s: label %g at voxel %lld is out of range (labels must be 0..2^31-1)",
                           path, v, (long long)i);
        }
        dst[i] = (int32_t)v;
    }
    return QR_OK;
}

void report_nonfinite(const char *path, const qr_volume *v, qr_read_info *info, bool report) {
    int64_t bad = qr_volume_count_nonfinite(v);
    if (info) info->nonfinite = bad;
    if (bad && report) qr_log(QR_LOG_WARNING, "%s: %lld voxels are NaN or Inf", path, (long long)bad);
}

// The volume a header declares could not be allocated: a file too short for that volume is
// reported as truncated, which it is whatever the memory, by a pass that only counts the bytes (a
// compressed file's length is known only by decompressing it); otherwise memory ran out.
qr_status no_room_for(const char *path, int64_t nvox) {
    NiftiPass count;
    const qr_status c = nifti_pass(path, &count);
    if (c != QR_OK && c != QR_ERR_NOMEM) return c;
    return qr_fail(QR_ERR_NOMEM, "%s: out of memory reading %lld voxels", path, (long long)nvox);
}

// A NIfTI file nifti_direct_file accepted: one decompression, decoded here.
qr_status read_nifti_direct(const char *path, const FileHeader &h, qr_dtype want, qr_volume *out, qr_read_info *info,
                            bool report) {
    qr_geometry g;
    std::memset(&g, 0, sizeof g);
    geometry_from_io(h.io.GetPointer(), &g);
    QR_TRY(qr_geometry_validate(&g, path));
    NiftiPass pass;
    pass.nvox = qr_geometry_nvox(&g);
    if (want == QR_FLOAT32) {
        const qr_status a = qr_volume_alloc(out, &g, QR_FLOAT32);
        if (a == QR_ERR_NOMEM) return no_room_for(path, pass.nvox);
        QR_TRY(a);
        pass.out = out->data;
        qr_status st = nifti_pass(path, &pass);
        if (st != QR_OK) {
            qr_volume_free(out);
            return st;
        }
        report_nonfinite(path, out, info, report);
        return QR_OK;
    }
    // calloc, not a zero-filled vector: pages are touched only as voxels arrive, so a header that
    // declares far more voxels than a short file holds costs no memory before the error
    double *buf = static_cast<double *>(std::calloc((size_t)pass.nvox, sizeof(double)));
    if (!buf) return no_room_for(path, pass.nvox);
    pass.out = buf;
    pass.out_double = true;
    qr_status st = nifti_pass(path, &pass);
    if (st == QR_OK) st = labels_from_double(path, buf, g, out);
    std::free(buf);
    return st;
}

qr_status read_image(const char *path, qr_dtype want, qr_volume *out, qr_read_info *info, bool direct,
                     bool report = true) {
    std::memset(out, 0, sizeof *out);
    if (info) std::memset(info, 0, sizeof *info);
    FileHeader h;
    QR_TRY(open_header(path, &h, info));
    QR_TRY(check_header(path, h, info));
    if (direct && nifti_direct_file(path, h)) return read_nifti_direct(path, h, want, out, info, report);

    if (want == QR_FLOAT32) {
        FloatImage::Pointer img;
        NiftiScan scan;
        QR_TRY(read_itk<FloatImage>(path, h, &img, &scan));
        qr_geometry g;
        geometry_from_itk(img.GetPointer(), &g);
        QR_TRY(qr_geometry_validate(&g, path));
        QR_TRY(qr_volume_alloc(out, &g, QR_FLOAT32));
        std::memcpy(out->data, img->GetBufferPointer(), (size_t)qr_volume_nvox(out) * sizeof(float));
        restore_nonfinite(scan, qr_volume_f32(out), qr_volume_nvox(out));
        report_nonfinite(path, out, info, report);
        return QR_OK;
    }
    DoubleImage::Pointer img;
    NiftiScan scan;
    QR_TRY(read_itk<DoubleImage>(path, h, &img, &scan));
    qr_geometry g;
    geometry_from_itk(img.GetPointer(), &g);
    QR_TRY(qr_geometry_validate(&g, path));
    restore_nonfinite(scan, img->GetBufferPointer(), qr_geometry_nvox(&g));
    return labels_from_double(path, img->GetBufferPointer(), g, out);
}

qr_status read_guarded(const char *path, qr_dtype want, qr_volume *out, qr_read_info *info, bool direct, bool report) {
    const qr_status s = no_throw(path, [&] { return read_image(path, want, out, info, direct, report); });
    if (s != QR_OK) qr_volume_free(out); // an exception may leave the voxels allocated
    return s;
}

} // namespace

extern "C" qr_status qr_image_read(const char *path, qr_dtype want, qr_volume *out, qr_read_info *info) {
    return read_guarded(path, want, out, info, true, true);
}

extern "C" qr_status qr_image_read_itk(const char *path, qr_dtype want, qr_volume *out, qr_read_info *info) {
    return read_guarded(path, want, out, info, false, true);
}

extern "C" qr_status qr_image_read_quiet(const char *path, qr_dtype want, qr_volume *out, qr_read_info *info) {
    return read_guarded(path, want, out, info, true, false);
}

// ---- writing ----

namespace {

// An uncompressed image needs its voxels' bytes on the disk. The room (and the file-size limit) is
// checked first: on a short write the NIfTI and MetaImage writers print a line of their own to
// stderr (the library never prints) and NRRD's error names the staging file; the check after the
// write (verify_written) still catches what this cannot foresee, a compressed file or a disk that
// fills meanwhile.
// A compressed image's size is not known before it is written: when the disk has less room than
// its uncompressed voxels, or the file-size limit is below them, the writers' own messages of a
// short write (NIfTI prints to the C library's stderr, MetaImage to std::cerr) are caught around
// the write and dropped - the check after the write (verify_written) reports the failure in
// qsmrim's one line. Whatever else reached stderr meanwhile (another thread's notice) is passed
// on. Rare (a nearly full disk, a file-size limit below an image's voxels), so the
// capture may wait for ITK's readers (g_itk_read_lock, which also guards std::cerr's buffer).
class StderrCapture {
  public:
    StderrCapture() : lock_(g_itk_read_lock) {
        std::fflush(stderr);
        file_ = std::tmpfile();
        saved_ = file_ ? dup(STDERR_FILENO) : -1;
        if (saved_ >= 0 && dup2(fileno(file_), STDERR_FILENO) < 0) {
            close(saved_);
            saved_ = -1;
        }
    }
    ~StderrCapture() {
        if (saved_ >= 0) {
            std::fflush(stderr);
            dup2(saved_, STDERR_FILENO);
            close(saved_);
            std::rewind(file_);
            char line[4096];
            while (std::fgets(line, sizeof line, file_))
                if (std::strncmp(line, "** ", 3) != 0 && std::strncmp(line, "MetaImage:", 10) != 0) std::fputs(line, stderr);
        }
        if (file_) std::fclose(file_);
    }

  private:
    std::lock_guard<std::mutex> lock_;
    MuteStreams mute_; // MetaIO's std::cerr
    FILE *file_ = nullptr;
    int saved_ = -1;
};

// A writer's exception as one line naming the output, not its staged name, without ITK's
// "ITK ERROR: Class(0x...): " prefix. A compressed image's size is known only once written, so a
// full disk, a file-size limit or a quota shows first here (NRRD) or in the read-back (NIfTI,
// MetaImage, which report a short write only by a printed message). `tight`: the uncompressed
// voxels would not have fitted (the disk's room or the file-size limit), which the message then
// suggests as the cause.
qr_status fail_write(const char *path, const char *staged, const itk::ExceptionObject &e, const PrivateName &name,
                     bool tight) {
    if (dynamic_cast<const itk::MemoryAllocationError *>(&e)) return fail_itk(QR_ERR_IO, path, "cannot write the image", e);
    std::string text = one_line(name.unmask(e.GetDescription()));
    const std::string from(staged);
    for (size_t at = text.find(from); !from.empty() && at != std::string::npos; at = text.find(from, at + std::strlen(path)))
        text.replace(at, from.size(), path);
    const size_t head = text.rfind("ITK ERROR: ", 0) == 0 ? text.find("): ") : std::string::npos;
    if (head != std::string::npos) text.erase(0, head + 3);
    return qr_fail(QR_ERR_IO, "%s: cannot write the image%s: %s", path,
                   tight ? " (disk full, or over the file-size limit?)" : "", text.c_str());
}

template <class TImage>
qr_status write_single(const char *path, const char *staging_dir, const char *staging_file,
                       typename TImage::Pointer img, bool compress) {
    const auto size = img->GetLargestPossibleRegion().GetSize();
    const int64_t bytes = (int64_t)sizeof(typename TImage::PixelType) * (int64_t)size[0] * (int64_t)size[1] *
                          (int64_t)size[2] + 4096; // and a header of at most a few hundred bytes
    // NIfTI compresses by its name (.nii.gz) whatever is asked, and a .nii never
    if (qr_path_has_suffix(path, ".nii"))
        compress = false;
    else if (qr_path_has_suffix(path, ".gz"))
        compress = true;
    // room and file-size limit for the uncompressed voxels: an uncompressed image that does not fit
    // is refused before it is written; a compressed one's size is unknown beforehand, so it is
    // written with the writers' own messages of a short write kept off stderr (the read-back
    // reports it)
    const qr_status room = qr_space_check(staging_dir, bytes, bytes, path);
    if (room != QR_OK && !compress) return room;
    const bool tight = room != QR_OK;
    std::unique_ptr<StderrCapture> capture;
    if (tight) {
        qr_clear_error();
        capture.reset(new StderrCapture());
    }
    PrivateName name;
    const char *use;
    QR_TRY(name.resolve_write(staging_file, &use));
    try {
        auto writer = itk::ImageFileWriter<TImage>::New();
        writer->SetFileName(use);
        writer->SetInput(img);
        writer->SetUseCompression(compress);
        writer->Update();
    } catch (const itk::ExceptionObject &e) {
        capture.reset();
        return fail_write(path, staging_file, e, name, tight);
    }
    return QR_OK;
}

// How far (a fraction of the smallest spacing) a voxel centre read back may lie from where the
// grid written puts it: text headers round (NRRD and MetaImage write 17 and 6-plus digits, DICOM
// 10), far below this.
constexpr double kWrittenShiftTol = 0.01;
// Below this departure from perpendicular unit axes, NIfTI and DICOM store a grid as it is (to
// the rounding of their fields).
constexpr double kRigidDefect = 1e-6;

// The staged output flushed to the disk and read back: it must hold the volume's grid and (except
// DICOM, whose intensities are rescaled to int16) exactly its voxels. NIfTI and MetaImage writers
// report a short write (a full disk, a file-size limit) only as a printed message and return as if
// all was written; without this check a truncated file would replace a good one.
// A grid whose axes are not quite perpendicular unit vectors (accepted to QR_DIRECTION_TOL: a NRRD
// or MetaImage input) cannot be stored in NIfTI or DICOM, which hold a rotation only; ITK writes
// the nearest one. The voxels then sit slightly elsewhere in the file than in the input (up to
// about 1e-3 of their distance from the origin): a warning gives the largest shift in mm.
qr_status verify_written(const char *path, const char *staging_dir, const char *file, const qr_volume *v, bool dicom) {
    QR_TRY(qr_staging_sync(staging_dir, path));
    qr_volume back;
    const qr_status st = read_image(file, v->dtype, &back, nullptr, true, false);
    if (st == QR_ERR_NOMEM) /* the check itself could not be made: not a short write */
        return qr_fail(QR_ERR_NOMEM, "%s: out of memory reading the file written back to check it", path);
    if (st != QR_OK)
        return qr_fail(QR_ERR_IO, "%s: the file written is incomplete or unreadable (disk full, or a file-size limit?)", path);
    bool same = back.dtype == v->dtype;
    for (int a = 0; a < 3; a++) same = same && back.geom.size[a] == v->geom.size[a];
    const int64_t n = qr_volume_nvox(v);
    if (same && !dicom) {
        if (v->dtype == QR_FLOAT32) {
            const float *x = qr_volume_f32(v), *y = qr_volume_f32(&back);
            for (int64_t i = 0; same && i < n; i++)
                same = std::memcmp(&x[i], &y[i], sizeof(float)) == 0 || (std::isnan(x[i]) && std::isnan(y[i]));
        } else {
            same = std::memcmp(v->data, back.data, (size_t)n * sizeof(int32_t)) == 0;
        }
    }
    const double shift = same ? qr_geometry_max_shift_mm(&v->geom, &back.geom) : 0;
    qr_volume_free(&back);
    if (!same) return qr_fail(QR_ERR_IO, "%s: the file written does not read back as the volume that was written", path);
    const double minsp = std::min({v->geom.spacing[0], v->geom.spacing[1], v->geom.spacing[2]});
    if (shift > kWrittenShiftTol * minsp) {
        const double defect = qr_geometry_direction_defect(&v->geom);
        const bool rigid_only = dicom || qr_path_has_suffix(path, ".nii") || qr_path_has_suffix(path, ".nii.gz");
        if (!rigid_only || defect <= kRigidDefect)
            return qr_fail(QR_ERR_IO, "%s: the file written reads back on another grid (voxels up to %.3g mm away)", path, shift);
        qr_log(QR_LOG_WARNING,
               "%s: %s stores only perpendicular unit axes and this grid's depart from them by %.2g, so its voxels lie "
               "up to %.3g mm from where the input has them (write .nrrd or .mha to keep them exactly)",
               path, dicom ? "DICOM" : "NIfTI", defect, shift);
    }
    return QR_OK;
}

const char *const kImageSuffixes[] = {".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"};

// An image extension, in any case / exactly as the writers name it (lower case).
bool is_image_suffix(const char *path) {
    for (const char *s : kImageSuffixes)
        if (qr_path_has_suffix(path, s)) return true;
    return false;
}
bool is_lower_image_suffix(const char *path) {
    const size_t n = std::strlen(path);
    for (const char *s : kImageSuffixes)
        if (n >= std::strlen(s) && !std::strcmp(path + n - std::strlen(s), s)) return true;
    return false;
}

// Cast labels to the smallest integer type that holds them (Slicer and ITK read all of them).
template <class TPixel>
typename itk::Image<TPixel, 3>::Pointer labels_as(const qr_volume *v) {
    using Img = itk::Image<TPixel, 3>;
    auto img = make_itk_image<Img>(&v->geom);
    img->Allocate();
    const int32_t *s = qr_volume_i32(v);
    TPixel *d = img->GetBufferPointer();
    int64_t n = qr_volume_nvox(v);
    for (int64_t i = 0; i < n; i++) d[i] = (TPixel)s[i];
    return img;
}

std::string fmt_double(double x) {
    char b[64];
    std::snprintf(b, sizeof b, "%.10g", x);
    return b;
}

// Per-slice DICOM headers (MR Image Storage) for a series on grid g.
std::vector<itk::MetaDataDictionary> dicom_dictionaries(const qr_geometry &g, double slope, double intercept,
                                                       bool float_pixels) {
    gdcm::UIDGenerator uid;
    const std::string study = uid.Generate(), series = uid.Generate(), frame = uid.Generate();
    std::ostringstream iop;
    iop << fmt_double(g.direction[0]) << "\\" << fmt_double(g.direction[3]) << "\\" << fmt_double(g.direction[6]) << "\\"
        << fmt_double(g.direction[1]) << "\\" << fmt_double(g.direction[4]) << "\\" << fmt_double(g.direction[7]);
    std::vector<itk::MetaDataDictionary> dicts((size_t)g.size[2]);
    for (int64_t k = 0; k < g.size[2]; k++) {
        auto &dct = dicts[(size_t)k];
        double ijk[3] = {0, 0, (double)k}, p[3];
        qr_geometry_index_to_lps(&g, ijk, p);
        std::ostringstream ipp;
        ipp << fmt_double(p[0]) << "\\" << fmt_double(p[1]) << "\\" << fmt_double(p[2]);
        auto put = [&dct](const char *tag, const std::string &val) {
            itk::EncapsulateMetaData<std::string>(dct, tag, val);
        };
        put("0008|0016", "1.2.840.10008.5.1.4.1.1.4"); // MR Image Storage
        put("0008|0060", "MR");
        put("0028|0004", "MONOCHROME2");
        put("0020|000d", study);
        put("0020|000e", series);
        put("0020|0052", frame);
        put("0020|0011", "1");
        put("0020|0013", std::to_string(k + 1));
        put("0020|0032", ipp.str());
        put("0020|0037", iop.str());
        put("0028|0030", fmt_double(g.spacing[1]) + "\\" + fmt_double(g.spacing[0]));
        put("0018|0050", fmt_double(g.spacing[2]));
        if (float_pixels) { // GDCM stores float buffers as int16 through slope/intercept
            put("0028|0100", "16");
            put("0028|0101", "16");
            put("0028|0102", "15");
            put("0028|0103", "1");
        }
        put("0028|1052", fmt_double(intercept));
        put("0028|1053", fmt_double(slope));
        put("0008|103e", "qsmrim output");
    }
    return dicts;
}

template <class TImage>
qr_status write_series(const char *path, const char *staging_dir, typename TImage::Pointer img,
                       std::vector<itk::MetaDataDictionary> &dicts) {
    using SliceImage = itk::Image<typename TImage::PixelType, 2>;
    std::vector<std::string> files;
    typename itk::ImageSeriesWriter<TImage, SliceImage>::DictionaryArrayType dict_ptrs;
    for (size_t k = 0; k < dicts.size(); k++) {
        char name[64];
        std::snprintf(name, sizeof name, "/slice%04zu.dcm", k + 1);
        files.push_back(std::string(staging_dir) + name);
        dict_ptrs.push_back(&dicts[k]);
    }
    try {
        auto io = itk::GDCMImageIO::New();
        io->KeepOriginalUIDOn();
        auto writer = itk::ImageSeriesWriter<TImage, SliceImage>::New();
        writer->SetInput(img);
        writer->SetImageIO(io);
        writer->SetFileNames(files);
        writer->SetMetaDataDictionaryArray(&dict_ptrs);
        writer->Update();
    } catch (const itk::ExceptionObject &e) {
        return fail_itk(QR_ERR_IO, path, "cannot write the DICOM series", e);
    }
    return QR_OK;
}

// A DICOM series in staging_dir. Labels: int16 pixels. Intensities: GDCM stores int16 through
// rescale slope/intercept chosen to cover the finite range (quantisation step (max-min)/65000;
// exact for integral values within the int16 range); NaN/Inf are stored as the intercept.
qr_status write_dicom(const char *path, const char *staging_dir, const qr_volume *v) {
    const int64_t n = qr_volume_nvox(v);
    // GDCM stops the process (an assertion) when a slice cannot be written, so the room is checked
    // first: int16 pixels plus a header of a few kB per slice
    const int64_t slice_bytes = 2 * v->geom.size[0] * v->geom.size[1] + 16384;
    QR_TRY(qr_space_check(staging_dir, slice_bytes * v->geom.size[2], slice_bytes, path));
    if (v->dtype == QR_INT32) {
        const int32_t *s = qr_volume_i32(v);
        for (int64_t i = 0; i < n; i++)
            if (s[i] > 32767 || s[i] < -32768)
                return qr_fail(QR_ERR_UNSUPPORTED, "%s: label %d does not fit a DICOM int16 series", path, s[i]);
        auto dicts = dicom_dictionaries(v->geom, 1.0, 0.0, false);
        return write_series<itk::Image<int16_t, 3>>(path, staging_dir, labels_as<int16_t>(v), dicts);
    }
    const float *s = qr_volume_f32(v);
    double lo = INFINITY, hi = -INFINITY;
    bool integral = true;
    for (int64_t i = 0; i < n; i++) {
        if (!std::isfinite(s[i])) continue;
        lo = std::min(lo, (double)s[i]);
        hi = std::max(hi, (double)s[i]);
        integral = integral && s[i] == std::floor(s[i]);
    }
    if (!(lo <= hi)) lo = hi = 0;
    double slope = 1.0, intercept = 0.0;
    if (!(integral && lo >= -32768 && hi <= 32767)) {
        intercept = 0.5 * (lo + hi);
        slope = (hi - lo) / 65000.0;
        if (!(slope > 0)) slope = 1.0;
    }
    auto img = make_itk_image<FloatImage>(&v->geom);
    img->Allocate();
    float *d = img->GetBufferPointer();
    for (int64_t i = 0; i < n; i++) d[i] = std::isfinite(s[i]) ? s[i] : (float)intercept;
    auto dicts = dicom_dictionaries(v->geom, slope, intercept, true);
    return write_series<FloatImage>(path, staging_dir, img, dicts);
}

} // namespace

extern "C" qr_status qr_image_output_check(const char *path) {
    if (!path || !*path) return qr_fail(QR_ERR_INVALID_ARG, "no output path given");
    static const char *known = "use .nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, or a name without an extension for a DICOM "
                               "series folder";
    if (is_image_suffix(path)) {
        /* ITK's NIfTI and MetaImage writers know only the lower-case names (x.NII.GZ, x.MHD fail
         * after the work), and its NRRD writer puts the voxels of x.NHDR inside the header */
        if (!is_lower_image_suffix(path))
            return qr_fail(QR_ERR_INVALID_ARG, "%s: write the image extension in lower case (%s)", path, known);
        if (qr_path_is_dir(path)) return qr_fail(QR_ERR_INVALID_ARG, "%s: is a folder; give an image file name", path);
        return QR_OK;
    }
    if (qr_path_is_dir(path)) {
        if (qr_dir_is_empty(path)) return QR_OK;
        return qr_fail(QR_ERR_INVALID_ARG, "%s: a DICOM series is written into a new or empty folder, and this one holds files",
                       path);
    }
    const size_t n = strlen(path);
    if (path[n - 1] == '/') return QR_OK;
    if (qr_path_is_file(path))
        return qr_fail(QR_ERR_INVALID_ARG, "%s: an existing file without an image extension (%s)", path, known);
    /* an extension: letters and digits after the last '.' of the file name, not only digits (a
     * folder "series.2" is a DICOM folder name) */
    const char *base = qr_path_basename(path), *dot = strrchr(base, '.');
    if (!dot || dot == base || !dot[1]) return QR_OK;
    bool alnum = true, digits = true;
    for (const char *c = dot + 1; *c; c++) {
        alnum = alnum && std::isalnum((unsigned char)*c);
        digits = digits && std::isdigit((unsigned char)*c);
    }
    if (alnum && !digits) return qr_fail(QR_ERR_INVALID_ARG, "%s: unknown image extension '%s' (%s)", path, dot, known);
    return QR_OK;
}

extern "C" qr_status qr_image_write(const char *path, const qr_volume *v, int flags) {
    qr_pending p;
    QR_TRY(qr_image_write_pending(path, v, flags, &p));
    return qr_pending_commit(&p);
}

namespace {

// The image written into its staging folder and read back.
qr_status write_staged(const char *path, const qr_volume *v, int flags, bool dicom, const char *staging) {
    qr_status s = QR_OK;
    std::string file = std::string(staging) + "/" + qr_path_basename(path);
    const bool compress = (flags & QR_WRITE_COMPRESS) || qr_path_has_suffix(path, ".gz");
    if (dicom) {
        s = write_dicom(path, staging, v);
    } else if (v->dtype == QR_FLOAT32) {
        s = write_single<FloatImage>(path, staging, file.c_str(), view_as_itk<FloatImage, float>(v), compress);
    } else {
        int32_t lo = 0, hi = 0;
        const int32_t *p = qr_volume_i32(v);
        for (int64_t i = 0; i < qr_volume_nvox(v); i++) {
            lo = std::min(lo, p[i]);
            hi = std::max(hi, p[i]);
        }
        const bool keep32 = (flags & QR_WRITE_KEEP_INT32) != 0;
        if (!keep32 && lo >= 0 && hi <= 255)
            s = write_single<itk::Image<uint8_t, 3>>(path, staging, file.c_str(), labels_as<uint8_t>(v), compress);
        else if (!keep32 && lo >= -32768 && hi <= 32767)
            s = write_single<itk::Image<int16_t, 3>>(path, staging, file.c_str(), labels_as<int16_t>(v), compress);
        else
            s = write_single<IntImage>(path, staging, file.c_str(), view_as_itk<IntImage, int32_t>(v), compress);
    }
    if (s == QR_OK) s = verify_written(path, staging, dicom ? staging : file.c_str(), v, dicom);
    return s;
}

} // namespace

extern "C" qr_status qr_image_write_pending(const char *path, const qr_volume *v, int flags, qr_pending *out) {
    std::memset(out, 0, sizeof *out);
    if (!path || !*path) return qr_fail(QR_ERR_INVALID_ARG, "no output path given");
    if (!v || !v->data) return qr_fail(QR_ERR_INVALID_ARG, "%s: nothing to write", path);
    if (std::strlen(path) >= sizeof out->path) return qr_fail(QR_ERR_INVALID_ARG, "path too long: %s", path);
    setup_toolkits();
    QR_TRY(qr_geometry_validate(&v->geom, path));
    QR_TRY(qr_image_output_check(path));
    // a DICOM folder may be named with a slash at its end ("series/"): the folder is the name without it
    std::string folder(path);
    while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
    path = folder.c_str();
    const bool dicom = !is_image_suffix(path);
    char staging[QR_PATH_MAX];
    QR_TRY(qr_staging_create(path, staging, sizeof staging));
    const qr_status s = no_throw(path, [&] { return write_staged(path, v, flags, dicom, staging); });
    if (s != QR_OK) {
        qr_staging_abort(staging);
        return s;
    }
    out->kind = dicom ? QR_PENDING_STAGED_DIR : QR_PENDING_STAGED_FILES;
    std::memcpy(out->tmp, staging, sizeof out->tmp);
    std::strcpy(out->path, path);
    return QR_OK;
}

// ---- resampling ----

namespace {
// src resampled onto out's grid by ITK's filter over `units` work units (0: ITK's default).
template <typename TImage, typename T>
void resample_itk(const qr_volume *src, qr_interp interp, double outside, unsigned units, qr_volume *out) {
    using F = itk::ResampleImageFilter<TImage, TImage>;
    auto f = F::New();
    f->SetInput(view_as_itk<TImage, T>(src));
    f->SetTransform(itk::IdentityTransform<double, 3>::New());
    if (interp == QR_INTERP_LINEAR)
        f->SetInterpolator(itk::LinearInterpolateImageFunction<TImage, double>::New());
    else
        f->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<TImage, double>::New());
    f->SetDefaultPixelValue((T)outside);
    f->SetOutputParametersFromImage(make_itk_image<TImage>(&out->geom));
    if (units) f->SetNumberOfWorkUnits(units);
    f->Update();
    std::memcpy(out->data, f->GetOutput()->GetBufferPointer(), (size_t)qr_volume_nvox(out) * sizeof(T));
}
} // namespace

extern "C" qr_status qr_image_resample(const qr_volume *src, const qr_geometry *target, qr_interp interp,
                                       double outside, qr_volume *out) {
    std::memset(out, 0, sizeof *out);
    if (src->dtype == QR_INT32 && interp != QR_INTERP_NEAREST)
        return qr_fail(QR_ERR_INVALID_ARG, "label maps can only be resampled with nearest-neighbour interpolation");
    setup_toolkits();
    QR_TRY(qr_volume_alloc(out, target, src->dtype));
    // Where the filter's threads cannot be started (an address-space limit: each thread's stack is
    // reserved whole), it runs again on the calling thread alone: the same voxels, more slowly.
    for (unsigned units = 0;; units = 1) {
        try {
            if (src->dtype == QR_FLOAT32)
                resample_itk<FloatImage, float>(src, interp, outside, units, out);
            else
                resample_itk<IntImage, int32_t>(src, interp, outside, units, out);
            return QR_OK;
        } catch (const itk::ExceptionObject &e) {
            const std::string what = one_line(e.GetDescription());
            if (units == 0 && what.find("thread") != std::string::npos) continue;
            qr_volume_free(out);
            return qr_fail(QR_ERR_INTERNAL, "resampling failed: %s", what.c_str());
        } catch (const std::bad_alloc &) {
            qr_volume_free(out);
            return qr_fail(QR_ERR_NOMEM, "resampling: out of memory");
        }
    }
}
