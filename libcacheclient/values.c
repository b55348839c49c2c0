/* Value constructors and the release functions of what the library hands out. */
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"

cc_value cc_value_null(void) { return (cc_value){.type = CC_TYPE_NULL}; }
cc_value cc_value_bool(bool b) { return (cc_value){.type = CC_TYPE_BOOL, .b = b}; }
cc_value cc_value_int(int64_t i) { return (cc_value){.type = CC_TYPE_INT, .i = i}; }
cc_value cc_value_float(double f) { return (cc_value){.type = CC_TYPE_FLOAT, .f = f}; }

cc_value cc_value_bytes(const void *data, size_t len)
{
    return (cc_value){.type = CC_TYPE_BYTES, .data = data, .len = len};
}

cc_value cc_value_msgpack(int type, const void *encoded, size_t len)
{
    return (cc_value){.type = type, .data = encoded, .len = len};
}

cc_value cc_value_object(const char *class_name, size_t class_len, uint64_t serializer,
                         const void *data, size_t len)
{
    return (cc_value){.type = CC_TYPE_OBJECT, .class_name = class_name, .class_len = class_len,
                      .serializer = serializer, .data = data, .len = len};
}

void cc_keys_release(cc_keys *k)
{
    if (!k)
        return;
    free(k->keys);
    free(k->lens);
    free(k->_buf);
    memset(k, 0, sizeof(*k));
}
