/* Names and messages for the tables in protocol.h. */
#include "cacheclient_protocol.h"

const char *cc_status_name(int status)
{
    switch (status) {
#define CC_STATUS_CASE(num, name, msg) \
    case num:                          \
        return #name;
        CC_STATUSES(CC_STATUS_CASE)
#undef CC_STATUS_CASE
    }
    return "UNKNOWN";
}

const char *cc_status_message(int status)
{
    switch (status) {
#define CC_STATUS_CASE(num, name, msg) \
    case num:                          \
        return msg;
        CC_STATUSES(CC_STATUS_CASE)
#undef CC_STATUS_CASE
    }
    return "unknown status";
}

const char *cc_type_name(int type)
{
    switch (type) {
#define CC_TYPE_CASE(num, name, str) \
    case num:                        \
        return str;
        CC_TYPES(CC_TYPE_CASE)
#undef CC_TYPE_CASE
    }
    return "unknown";
}

const char *cc_op_name(int op)
{
    switch (op) {
#define CC_OP_CASE(num, name, desc) \
    case num:                       \
        return #name;
        CC_OPS(CC_OP_CASE)
#undef CC_OP_CASE
    }
    return "UNKNOWN";
}
