//! One pattern for the C API's enums. Each enum is written out with its docs and numbers
//! (cbindgen reads it from the source); `c_enum!` adds, from one list of its variants, `ALL`,
//! `from_i32` and the names. A variant left out of the list fails to compile (`name` is an
//! exhaustive match), so the list cannot drift from the enum.

/// `c_enum!(fwasr_x, "FWASR_X_", [FWASR_X_A, FWASR_X_B])` adds to `fwasr_x`:
/// `ALL`, `from_i32`, `name()` ("FWASR_X_A"), `c_name()` (the same, NUL-terminated, static)
/// and `short_c_name()` ("A": the name without the prefix).
macro_rules! c_enum {
    ($ty:ident, $prefix:literal, [$($v:ident),+ $(,)?]) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$v),+];

            /// The value numbered `n`, if there is one.
            pub fn from_i32(n: i32) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| *v as i32 == n)
            }

            /// The C name, e.g. "FWASR_ERR_TIMEOUT".
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$v => stringify!($v),)+
                }
            }

            /// The C name as a static C string.
            pub fn c_name(self) -> &'static std::ffi::CStr {
                match self {
                    $($ty::$v => const {
                        match std::ffi::CStr::from_bytes_with_nul(concat!(stringify!($v), "\0").as_bytes()) {
                            Ok(c) => c,
                            Err(_) => panic!("a name without NUL"),
                        }
                    },)+
                }
            }

            /// The name without the enum's prefix, e.g. "SEGMENT", as a static C string.
            pub fn short_c_name(self) -> &'static std::ffi::CStr {
                let full = self.c_name().to_bytes_with_nul();
                std::ffi::CStr::from_bytes_with_nul(&full[$prefix.len()..]).unwrap_or(c"")
            }
        }
    };
}

pub(crate) use c_enum;
