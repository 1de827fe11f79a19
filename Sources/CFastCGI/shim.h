#ifndef BILLING_CHECKOUT_CFASTCGI_SHIM_H
#define BILLING_CHECKOUT_CFASTCGI_SHIM_H
/* libfcgi's request API (never fcgi_stdio.h), and mallopt for the worker pool's arena limit. */
#include <fcgiapp.h>
#include <malloc.h>
#endif
