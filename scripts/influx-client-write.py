#!/usr/bin/env python3
"""Writes to the collector with InfluxDB's own Python client (influxdb-client), as a gateway
or an agent would: HTTPWriteTests runs it from the virtualenv `make test-deps` creates.

    influx-client-write.py URL TOKEN COUNT

Writes COUNT river-level points (gzip on, second precision) to bucket gw-py in one
synchronous call, then one bad line, and prints what the server answered to each.
"""
import sys

from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with InfluxDBClient(url=url, token=token, org="lai-chau", enable_gzip=True) as client:
    write = client.write_api(write_options=SYNCHRONOUS)
    points = [Point("river").tag("sensor", "hy-py-1").field("level_m", 2.0 + i / 100).time(1795000000 + 60 * i, WritePrecision.S)
              for i in range(count)]
    write.write(bucket="gw-py", record=points, write_precision=WritePrecision.S)
    print("points: stored")
    try:
        write.write(bucket="gw-py", record="river,sensor=hy-py-1 level_m=oops 1795999999", write_precision=WritePrecision.S)
        print("bad line: accepted")
    except ApiException as e:
        print(f"bad line: refused {e.status}")
