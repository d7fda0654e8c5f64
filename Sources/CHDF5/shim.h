// Not API: serial HDF5 plus its type and property-list "constants", which are
// macros that call H5open() and read a global id, so Swift cannot import them.
#ifndef BERT_CHDF5_SHIM_H
#define BERT_CHDF5_SHIM_H
#include <hdf5.h>
#include <stdio.h>

static inline hid_t chdf5_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t chdf5_native_int16(void) { return H5T_NATIVE_INT16; }
static inline hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_c_s1(void) { return H5T_C_S1; }
static inline hid_t chdf5_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t chdf5_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t chdf5_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t chdf5_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t chdf5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
static inline hsize_t chdf5_s_unlimited(void) { return H5S_UNLIMITED; }
static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline hid_t chdf5_p_dataset_access(void) { return H5P_DATASET_ACCESS; }
static inline size_t chdf5_variable_size(void) { return H5T_VARIABLE; }
/// Silences HDF5's own stderr error stack; we report errors ourselves, naming the file.
static inline void chdf5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// Innermost description on HDF5's error stack (where the error was detected), copied into `out`.
static herr_t chdf5_first_error_walker(unsigned n, const H5E_error2_t *e, void *out) {
    if (n == 0 && e && e->desc) {
        snprintf((char *)out, 1024, "%s (in %s)", e->desc, e->func_name ? e->func_name : "?");
    }
    return 0;
}
static inline void chdf5_last_error_message(char *out /* 1024 bytes */) {
    out[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, chdf5_first_error_walker, out);
    H5Eclear2(H5E_DEFAULT);
}
#endif
