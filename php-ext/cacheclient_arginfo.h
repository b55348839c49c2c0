/* This is a generated file, edit the .stub.php file instead.
 * Stub hash: 8a80d3f0de5ad5f1a96577d97da7eac819432938 */

ZEND_BEGIN_ARG_INFO_EX(arginfo_class_CacheClient___construct, 0, 0, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, socket, IS_STRING, 1, "null")
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, options, IS_ARRAY, 0, "[]")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_get, 0, 1, IS_MIXED, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(1, found, IS_MIXED, 0, "null")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_getMulti, 0, 1, IS_ARRAY, 0)
	ZEND_ARG_TYPE_INFO(0, keys, IS_ARRAY, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, withVersions, _IS_BOOL, 0, "false")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_getAndTouch, 0, 2, IS_MIXED, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, NULL)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(1, found, IS_MIXED, 0, "null")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_set, 0, 2, _IS_BOOL, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO(0, value, IS_MIXED, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, "0")
ZEND_END_ARG_INFO()

#define arginfo_class_CacheClient_add arginfo_class_CacheClient_set

#define arginfo_class_CacheClient_replace arginfo_class_CacheClient_set

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_setMulti, 0, 1, _IS_BOOL, 0)
	ZEND_ARG_TYPE_INFO(0, items, IS_ARRAY, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, "0")
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, ttls, IS_ARRAY, 1, "null")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_delete, 0, 1, IS_LONG, 0)
	ZEND_ARG_TYPE_MASK(0, key, MAY_BE_STRING|MAY_BE_ARRAY, NULL)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_class_CacheClient_exists, 0, 1, MAY_BE_BOOL|MAY_BE_LONG)
	ZEND_ARG_TYPE_MASK(0, key, MAY_BE_STRING|MAY_BE_ARRAY, NULL)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_touch, 0, 2, _IS_BOOL, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, NULL)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_class_CacheClient_ttl, 0, 1, MAY_BE_DOUBLE|MAY_BE_FALSE|MAY_BE_NULL)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_increment, 0, 1, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, by, IS_LONG, 0, "1")
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, initial, IS_LONG, 0, "0")
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, "0")
ZEND_END_ARG_INFO()

#define arginfo_class_CacheClient_decrement arginfo_class_CacheClient_increment

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_getWithVersion, 0, 1, IS_ARRAY, 1)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_cas, 0, 3, _IS_BOOL, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO(0, version, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO(0, value, IS_MIXED, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, "0")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_remember, 0, 2, IS_MIXED, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO(0, compute, IS_CALLABLE, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, "0")
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, options, IS_ARRAY, 0, "[]")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_append, 0, 2, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO(0, data, IS_STRING, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, "0")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_getRange, 0, 3, IS_STRING, 1)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO(0, offset, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO(0, length, IS_LONG, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_length, 0, 1, IS_LONG, 1)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_deleteByPrefix, 0, 1, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO(0, prefix, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_OBJ_INFO_EX(arginfo_class_CacheClient_keys, 0, 0, CacheClientKeyIterator, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, prefix, IS_STRING, 0, "\"\"")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_flush, 0, 0, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, namespace, IS_STRING, 1, "null")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_flushAll, 0, 0, IS_LONG, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_stats, 0, 0, IS_ARRAY, 0)
ZEND_END_ARG_INFO()

#define arginfo_class_CacheClient_shmStats arginfo_class_CacheClient_stats

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_ping, 0, 0, _IS_BOOL, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_wait, 0, 1, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO(0, replicas, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, timeout, IS_DOUBLE, 0, "1.0")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_pipeline, 0, 1, IS_ARRAY, 0)
	ZEND_ARG_TYPE_INFO(0, fn, IS_CALLABLE, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClient_close, 0, 0, IS_VOID, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_INFO_EX(arginfo_class_CacheClientPipeline___construct, 0, 0, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_OBJ_INFO_EX(arginfo_class_CacheClientPipeline_get, 0, 1, CacheClientPipeline, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_END_ARG_INFO()

#define arginfo_class_CacheClientPipeline_getWithVersion arginfo_class_CacheClientPipeline_get

ZEND_BEGIN_ARG_WITH_RETURN_OBJ_INFO_EX(arginfo_class_CacheClientPipeline_set, 0, 2, CacheClientPipeline, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO(0, value, IS_MIXED, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, "0")
ZEND_END_ARG_INFO()

#define arginfo_class_CacheClientPipeline_add arginfo_class_CacheClientPipeline_set

#define arginfo_class_CacheClientPipeline_replace arginfo_class_CacheClientPipeline_set

#define arginfo_class_CacheClientPipeline_delete arginfo_class_CacheClientPipeline_get

#define arginfo_class_CacheClientPipeline_exists arginfo_class_CacheClientPipeline_get

ZEND_BEGIN_ARG_WITH_RETURN_OBJ_INFO_EX(arginfo_class_CacheClientPipeline_increment, 0, 1, CacheClientPipeline, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, by, IS_LONG, 0, "1")
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, initial, IS_LONG, 0, "0")
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, "0")
ZEND_END_ARG_INFO()

#define arginfo_class_CacheClientPipeline_decrement arginfo_class_CacheClientPipeline_increment

ZEND_BEGIN_ARG_WITH_RETURN_OBJ_INFO_EX(arginfo_class_CacheClientPipeline_touch, 0, 2, CacheClientPipeline, 0)
	ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
	ZEND_ARG_TYPE_MASK(0, ttl, MAY_BE_LONG|MAY_BE_DOUBLE, NULL)
ZEND_END_ARG_INFO()

#define arginfo_class_CacheClientPipeline_ttl arginfo_class_CacheClientPipeline_get

#define arginfo_class_CacheClientKeyIterator___construct arginfo_class_CacheClientPipeline___construct

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_class_CacheClientKeyIterator_current, 0, 0, IS_STRING, 0)
ZEND_END_ARG_INFO()

#define arginfo_class_CacheClientKeyIterator_key arginfo_class_CacheClient_flushAll

#define arginfo_class_CacheClientKeyIterator_next arginfo_class_CacheClient_close

#define arginfo_class_CacheClientKeyIterator_rewind arginfo_class_CacheClient_close

#define arginfo_class_CacheClientKeyIterator_valid arginfo_class_CacheClient_ping


ZEND_METHOD(CacheClient, __construct);
ZEND_METHOD(CacheClient, get);
ZEND_METHOD(CacheClient, getMulti);
ZEND_METHOD(CacheClient, getAndTouch);
ZEND_METHOD(CacheClient, set);
ZEND_METHOD(CacheClient, add);
ZEND_METHOD(CacheClient, replace);
ZEND_METHOD(CacheClient, setMulti);
ZEND_METHOD(CacheClient, delete);
ZEND_METHOD(CacheClient, exists);
ZEND_METHOD(CacheClient, touch);
ZEND_METHOD(CacheClient, ttl);
ZEND_METHOD(CacheClient, increment);
ZEND_METHOD(CacheClient, decrement);
ZEND_METHOD(CacheClient, getWithVersion);
ZEND_METHOD(CacheClient, cas);
ZEND_METHOD(CacheClient, remember);
ZEND_METHOD(CacheClient, append);
ZEND_METHOD(CacheClient, getRange);
ZEND_METHOD(CacheClient, length);
ZEND_METHOD(CacheClient, deleteByPrefix);
ZEND_METHOD(CacheClient, keys);
ZEND_METHOD(CacheClient, flush);
ZEND_METHOD(CacheClient, flushAll);
ZEND_METHOD(CacheClient, stats);
ZEND_METHOD(CacheClient, shmStats);
ZEND_METHOD(CacheClient, ping);
ZEND_METHOD(CacheClient, wait);
ZEND_METHOD(CacheClient, pipeline);
ZEND_METHOD(CacheClient, close);
ZEND_METHOD(CacheClientPipeline, __construct);
ZEND_METHOD(CacheClientPipeline, get);
ZEND_METHOD(CacheClientPipeline, getWithVersion);
ZEND_METHOD(CacheClientPipeline, set);
ZEND_METHOD(CacheClientPipeline, add);
ZEND_METHOD(CacheClientPipeline, replace);
ZEND_METHOD(CacheClientPipeline, delete);
ZEND_METHOD(CacheClientPipeline, exists);
ZEND_METHOD(CacheClientPipeline, increment);
ZEND_METHOD(CacheClientPipeline, decrement);
ZEND_METHOD(CacheClientPipeline, touch);
ZEND_METHOD(CacheClientPipeline, ttl);
ZEND_METHOD(CacheClientKeyIterator, __construct);
ZEND_METHOD(CacheClientKeyIterator, current);
ZEND_METHOD(CacheClientKeyIterator, key);
ZEND_METHOD(CacheClientKeyIterator, next);
ZEND_METHOD(CacheClientKeyIterator, rewind);
ZEND_METHOD(CacheClientKeyIterator, valid);


static const zend_function_entry class_CacheClient_methods[] = {
	ZEND_ME(CacheClient, __construct, arginfo_class_CacheClient___construct, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, get, arginfo_class_CacheClient_get, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, getMulti, arginfo_class_CacheClient_getMulti, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, getAndTouch, arginfo_class_CacheClient_getAndTouch, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, set, arginfo_class_CacheClient_set, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, add, arginfo_class_CacheClient_add, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, replace, arginfo_class_CacheClient_replace, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, setMulti, arginfo_class_CacheClient_setMulti, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, delete, arginfo_class_CacheClient_delete, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, exists, arginfo_class_CacheClient_exists, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, touch, arginfo_class_CacheClient_touch, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, ttl, arginfo_class_CacheClient_ttl, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, increment, arginfo_class_CacheClient_increment, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, decrement, arginfo_class_CacheClient_decrement, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, getWithVersion, arginfo_class_CacheClient_getWithVersion, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, cas, arginfo_class_CacheClient_cas, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, remember, arginfo_class_CacheClient_remember, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, append, arginfo_class_CacheClient_append, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, getRange, arginfo_class_CacheClient_getRange, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, length, arginfo_class_CacheClient_length, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, deleteByPrefix, arginfo_class_CacheClient_deleteByPrefix, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, keys, arginfo_class_CacheClient_keys, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, flush, arginfo_class_CacheClient_flush, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, flushAll, arginfo_class_CacheClient_flushAll, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, stats, arginfo_class_CacheClient_stats, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, shmStats, arginfo_class_CacheClient_shmStats, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, ping, arginfo_class_CacheClient_ping, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, wait, arginfo_class_CacheClient_wait, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, pipeline, arginfo_class_CacheClient_pipeline, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClient, close, arginfo_class_CacheClient_close, ZEND_ACC_PUBLIC)
	ZEND_FE_END
};


static const zend_function_entry class_CacheClientPipeline_methods[] = {
	ZEND_ME(CacheClientPipeline, __construct, arginfo_class_CacheClientPipeline___construct, ZEND_ACC_PRIVATE)
	ZEND_ME(CacheClientPipeline, get, arginfo_class_CacheClientPipeline_get, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, getWithVersion, arginfo_class_CacheClientPipeline_getWithVersion, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, set, arginfo_class_CacheClientPipeline_set, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, add, arginfo_class_CacheClientPipeline_add, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, replace, arginfo_class_CacheClientPipeline_replace, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, delete, arginfo_class_CacheClientPipeline_delete, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, exists, arginfo_class_CacheClientPipeline_exists, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, increment, arginfo_class_CacheClientPipeline_increment, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, decrement, arginfo_class_CacheClientPipeline_decrement, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, touch, arginfo_class_CacheClientPipeline_touch, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientPipeline, ttl, arginfo_class_CacheClientPipeline_ttl, ZEND_ACC_PUBLIC)
	ZEND_FE_END
};


static const zend_function_entry class_CacheClientKeyIterator_methods[] = {
	ZEND_ME(CacheClientKeyIterator, __construct, arginfo_class_CacheClientKeyIterator___construct, ZEND_ACC_PRIVATE)
	ZEND_ME(CacheClientKeyIterator, current, arginfo_class_CacheClientKeyIterator_current, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientKeyIterator, key, arginfo_class_CacheClientKeyIterator_key, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientKeyIterator, next, arginfo_class_CacheClientKeyIterator_next, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientKeyIterator, rewind, arginfo_class_CacheClientKeyIterator_rewind, ZEND_ACC_PUBLIC)
	ZEND_ME(CacheClientKeyIterator, valid, arginfo_class_CacheClientKeyIterator_valid, ZEND_ACC_PUBLIC)
	ZEND_FE_END
};


static const zend_function_entry class_CacheClientException_methods[] = {
	ZEND_FE_END
};


static const zend_function_entry class_CacheClientConnectionException_methods[] = {
	ZEND_FE_END
};


static const zend_function_entry class_CacheClientTimeoutException_methods[] = {
	ZEND_FE_END
};


static const zend_function_entry class_CacheClientProtocolException_methods[] = {
	ZEND_FE_END
};


static const zend_function_entry class_CacheClientServerException_methods[] = {
	ZEND_FE_END
};


static const zend_function_entry class_CacheClientSerializationException_methods[] = {
	ZEND_FE_END
};

static zend_class_entry *register_class_CacheClient(void)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClient", class_CacheClient_methods);
	class_entry = zend_register_internal_class_ex(&ce, NULL);
	class_entry->ce_flags |= ZEND_ACC_FINAL|ZEND_ACC_NOT_SERIALIZABLE;

	return class_entry;
}

static zend_class_entry *register_class_CacheClientPipeline(void)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClientPipeline", class_CacheClientPipeline_methods);
	class_entry = zend_register_internal_class_ex(&ce, NULL);
	class_entry->ce_flags |= ZEND_ACC_FINAL|ZEND_ACC_NOT_SERIALIZABLE;

	return class_entry;
}

static zend_class_entry *register_class_CacheClientKeyIterator(zend_class_entry *class_entry_Iterator)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClientKeyIterator", class_CacheClientKeyIterator_methods);
	class_entry = zend_register_internal_class_ex(&ce, NULL);
	class_entry->ce_flags |= ZEND_ACC_FINAL|ZEND_ACC_NOT_SERIALIZABLE;
	zend_class_implements(class_entry, 1, class_entry_Iterator);

	return class_entry;
}

static zend_class_entry *register_class_CacheClientException(zend_class_entry *class_entry_RuntimeException)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClientException", class_CacheClientException_methods);
	class_entry = zend_register_internal_class_ex(&ce, class_entry_RuntimeException);

	return class_entry;
}

static zend_class_entry *register_class_CacheClientConnectionException(zend_class_entry *class_entry_CacheClientException)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClientConnectionException", class_CacheClientConnectionException_methods);
	class_entry = zend_register_internal_class_ex(&ce, class_entry_CacheClientException);

	return class_entry;
}

static zend_class_entry *register_class_CacheClientTimeoutException(zend_class_entry *class_entry_CacheClientConnectionException)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClientTimeoutException", class_CacheClientTimeoutException_methods);
	class_entry = zend_register_internal_class_ex(&ce, class_entry_CacheClientConnectionException);

	return class_entry;
}

static zend_class_entry *register_class_CacheClientProtocolException(zend_class_entry *class_entry_CacheClientException)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClientProtocolException", class_CacheClientProtocolException_methods);
	class_entry = zend_register_internal_class_ex(&ce, class_entry_CacheClientException);

	return class_entry;
}

static zend_class_entry *register_class_CacheClientServerException(zend_class_entry *class_entry_CacheClientException)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClientServerException", class_CacheClientServerException_methods);
	class_entry = zend_register_internal_class_ex(&ce, class_entry_CacheClientException);

	return class_entry;
}

static zend_class_entry *register_class_CacheClientSerializationException(zend_class_entry *class_entry_CacheClientException)
{
	zend_class_entry ce, *class_entry;

	INIT_CLASS_ENTRY(ce, "CacheClientSerializationException", class_CacheClientSerializationException_methods);
	class_entry = zend_register_internal_class_ex(&ce, class_entry_CacheClientException);

	return class_entry;
}
