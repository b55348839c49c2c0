dnl config.m4 for the cacheclient extension (phpize && ./configure && make && make test).
dnl
dnl The protocol code is libcacheclient's: this links the static library of a meson build
dnl of the cacheserverd project (--with-cacheclient=BUILDDIR, default ../build), or an
dnl installed libcacheclient (--with-cacheclient=PREFIX holding include/ and lib/).

PHP_ARG_WITH([cacheclient],
  [for cacheclient support],
  [AS_HELP_STRING([[--with-cacheclient[=DIR]]],
    [Include cacheclient support. DIR is a meson build directory of cacheserverd
     (with libcacheclient/libcacheclient.a) or an install prefix; default: ../build])],
  [yes])

PHP_ARG_WITH([cacheclient-src],
  [for the cacheserverd source tree],
  [AS_HELP_STRING([--with-cacheclient-src=DIR],
    [cacheserverd source tree holding libcacheclient/include and common/ (the protocol header)
     (default: the parent of this directory)])],
  [no],
  [no])

if test "$PHP_CACHECLIENT" != "no"; then
  if test "$PHP_CACHECLIENT_SRC" != "no" && test -n "$PHP_CACHECLIENT_SRC"; then
    CC_SRC="$PHP_CACHECLIENT_SRC"
  else
    CC_SRC=`cd "$ext_srcdir/.." && pwd`
  fi
  if test "$PHP_CACHECLIENT" = "yes"; then
    CC_DIR="$CC_SRC/build"
  else
    CC_DIR="$PHP_CACHECLIENT"
  fi

  AC_MSG_CHECKING([for libcacheclient])
  CC_LIBS=""
  if test -f "$CC_DIR/libcacheclient/libcacheclient.a"; then
    dnl A meson build tree: the public headers from the source tree, the static library
    dnl (which holds everything it needs) from the build.
    if test ! -f "$CC_SRC/libcacheclient/include/cacheclient.h"; then
      AC_MSG_ERROR([cannot find libcacheclient/include/cacheclient.h under $CC_SRC (use --with-cacheclient-src)])
    fi
    PHP_ADD_INCLUDE([$CC_SRC/libcacheclient/include])
    dnl cacheclient_protocol.h, the public header cacheclient.h includes, lives in common/
    PHP_ADD_INCLUDE([$CC_SRC/common])
    dnl keep the library's symbols private to the extension
    CC_LIBS="-Wl,--exclude-libs,ALL $CC_DIR/libcacheclient/libcacheclient.a"
    AC_MSG_RESULT([static, from $CC_DIR])
  elif test -f "$CC_DIR/include/cacheclient.h"; then
    dnl An installed libcacheclient (meson install): its headers and shared library only.
    PHP_ADD_INCLUDE([$CC_DIR/include])
    CC_LIBDIR=""
    for d in "$CC_DIR"/lib "$CC_DIR"/lib64 "$CC_DIR"/lib/*-linux-gnu*; do
      if test -z "$CC_LIBDIR" && test -f "$d/libcacheclient.so"; then CC_LIBDIR="$d"; fi
    done
    if test -z "$CC_LIBDIR"; then
      AC_MSG_ERROR([$CC_DIR/include/cacheclient.h is there but no libcacheclient.so under $CC_DIR/lib*])
    fi
    PHP_ADD_LIBRARY_WITH_PATH(cacheclient, [$CC_LIBDIR], CACHECLIENT_SHARED_LIBADD)
    AC_MSG_RESULT([installed, in $CC_DIR])
  else
    AC_MSG_RESULT([not found])
    AC_MSG_ERROR([libcacheclient not found in $CC_DIR: build cacheserverd with meson first (meson setup build && ninja -C build) or pass --with-cacheclient=BUILDDIR])
  fi

  PKG_CHECK_MODULES([MSGPACK], [msgpack >= 3.0])
  PKG_CHECK_MODULES([ZSTD], [libzstd >= 1.4])
  PHP_EVAL_INCLINE([$MSGPACK_CFLAGS $ZSTD_CFLAGS])
  CACHECLIENT_SHARED_LIBADD="$CACHECLIENT_SHARED_LIBADD $CC_LIBS $MSGPACK_LIBS $ZSTD_LIBS"
  PHP_SUBST(CACHECLIENT_SHARED_LIBADD)

  PHP_NEW_EXTENSION(cacheclient,
    [cacheclient.c cc_conn.c cc_codec.c cc_methods.c cc_methods_keys.c cc_keys.c cc_pipeline.c cc_stream.c cc_session.c],
    $ext_shared,, [-DZEND_ENABLE_STATIC_TSRMLS_CACHE=1 -std=gnu11 -Wall -Wextra -Wno-unused-parameter])
  PHP_ADD_EXTENSION_DEP(cacheclient, session)
  PHP_ADD_EXTENSION_DEP(cacheclient, spl)
fi
