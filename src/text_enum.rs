//! Enums stored as text: one declaration gives a status its stored names, `as_str`, `FromStr`,
//! `Display` and a sqlx type over PostgreSQL's `text`, so that rows carry the enum itself. A name
//! this build does not know is an error when it is read ([`UnknownName`]), never a default.

/// A stored name that this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?} in the database")]
pub struct UnknownName {
    /// The enum it was read as.
    pub kind: &'static str,
    pub name: String,
}

/// Implements the stored names of a fieldless enum: `text_enum!(Status { Pending = "pending", .. })`.
macro_rules! text_enum {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const VALUES: &'static [$ty] = &[$($ty::$variant),+];

            /// The name it is stored and shown as.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::text_enum::UnknownName;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err($crate::text_enum::UnknownName { kind: stringify!($ty), name: other.to_owned() }),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $ty {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $ty {
            fn decode(value: ::sqlx::postgres::PgValueRef<'r>) -> ::std::result::Result<Self, ::sqlx::error::BoxDynError> {
                Ok(<&str as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value)?.parse::<$ty>()?)
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> ::std::result::Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<'_, ::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Light {
        Red,
        Green,
    }
    super::text_enum!(Light { Red = "red", Green = "green" });

    #[test]
    fn names_round_trip_and_an_unknown_name_is_an_error() {
        for light in Light::VALUES {
            assert_eq!(light.as_str().parse::<Light>(), Ok(*light));
        }
        let unknown = "blue".parse::<Light>().unwrap_err();
        assert_eq!(unknown.to_string(), "unknown Light \"blue\" in the database");
    }
}
