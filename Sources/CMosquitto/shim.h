#ifndef COLLECTOR_CMOSQUITTO_SHIM_H
#define COLLECTOR_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
