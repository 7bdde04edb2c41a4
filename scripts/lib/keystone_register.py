#!/usr/bin/env python3
"""Register what Magnum needs in an existing Keystone (v3 API, standard library only).

Idempotent: every object is looked up by name first and created only when missing; a user
that exists gets its password reset to the one given, so a re-run after a lost password works.

Usage (see scripts/register-keystone and doc/operator-guide.md); OS_AUTH_URL, OS_USERNAME,
OS_PASSWORD and OS_PROJECT_NAME give the admin credentials' defaults:

  keystone_register.py --auth-url URL --admin-password PW [--admin-user admin]
      [--admin-project admin] [--domain default]
      [--service-password PW] [--service-user magnum] [--service-project service]
      [--service-role admin] [--endpoint URL] [--region RegionOne]
      [--also-container-type]
      [--tenant PROJECT:USER:PASSWORD[:ROLE]]...   # test tenants (role member by default)
      [--admin-user-in PROJECT:USER:PASSWORD]...   # extra admins (role admin)

Prints one line per object it created or found.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


class Keystone:
    def __init__(self, url, user, password, project, domain):
        self.url = url.rstrip("/")
        if not self.url.endswith("/v3"):
            self.url += "/v3"
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": user, "domain": {"id": domain}, "password": password}
                    },
                },
                "scope": {"project": {"name": project, "domain": {"id": domain}}},
            }
        }
        status, headers, _ = self.call("POST", "/auth/tokens", body, token=None)
        if status != 201:
            sys.exit(f"keystone_register: cannot authenticate as {user}: HTTP {status}")
        self.token = headers["X-Subject-Token"]
        self.domain = domain

    def call(self, method, path, body=None, token="self"):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token == "self":
            req.add_header("X-Auth-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                text = resp.read().decode()
                return resp.status, resp.headers, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, e.headers, json.loads(text) if text else None
            except ValueError:
                return e.code, e.headers, text

    def ok(self, method, path, body=None):
        status, _, data = self.call(method, path, body)
        if status >= 300:
            sys.exit(f"keystone_register: {method} {path}: HTTP {status}: {data}")
        return data

    def find(self, collection, key, **query):
        q = urllib.parse.urlencode(query)
        return self.ok("GET", f"/{collection}?{q}")[key]

    def ensure_project(self, name):
        found = self.find("projects", "projects", name=name, domain_id=self.domain)
        if found:
            print(f"project {name}: exists ({found[0]['id']})")
            return found[0]["id"]
        body = {"project": {"name": name, "domain_id": self.domain, "enabled": True}}
        made = self.ok("POST", "/projects", body)["project"]
        print(f"project {name}: created ({made['id']})")
        return made["id"]

    def ensure_user(self, name, password, project_id):
        found = self.find("users", "users", name=name, domain_id=self.domain)
        if found:
            uid = found[0]["id"]
            self.ok("PATCH", f"/users/{uid}", {"user": {"password": password, "enabled": True}})
            print(f"user {name}: exists ({uid}), password set")
            return uid
        body = {
            "user": {
                "name": name,
                "password": password,
                "domain_id": self.domain,
                "default_project_id": project_id,
                "enabled": True,
            }
        }
        made = self.ok("POST", "/users", body)["user"]
        print(f"user {name}: created ({made['id']})")
        return made["id"]

    def role_id(self, name):
        found = self.find("roles", "roles", name=name)
        if found:
            return found[0]["id"]
        made = self.ok("POST", "/roles", {"role": {"name": name}})["role"]
        print(f"role {name}: created")
        return made["id"]

    def grant(self, project_id, user_id, role):
        rid = self.role_id(role)
        self.ok("PUT", f"/projects/{project_id}/users/{user_id}/roles/{rid}")
        print(f"role {role}: granted")

    def ensure_service(self, name, type_, description):
        found = self.find("services", "services", type=type_)
        found = [s for s in found if s.get("name") == name]
        if found:
            print(f"service {name} ({type_}): exists ({found[0]['id']})")
            return found[0]["id"]
        body = {"service": {"name": name, "type": type_, "description": description}}
        made = self.ok("POST", "/services", body)["service"]
        print(f"service {name} ({type_}): created ({made['id']})")
        return made["id"]

    def ensure_region(self, region):
        status, _, _ = self.call("GET", f"/regions/{urllib.parse.quote(region)}")
        if status == 404:
            self.ok("POST", "/regions", {"region": {"id": region}})
            print(f"region {region}: created")

    def ensure_endpoints(self, service_id, url, region):
        self.ensure_region(region)
        existing = self.find("endpoints", "endpoints", service_id=service_id)
        for interface in ("public", "internal", "admin"):
            mine = [e for e in existing if e["interface"] == interface and e.get("region_id") == region]
            if mine and mine[0]["url"] == url:
                print(f"endpoint {interface} {url}: exists")
                continue
            for e in mine:
                self.ok("DELETE", f"/endpoints/{e['id']}")
            body = {
                "endpoint": {
                    "service_id": service_id,
                    "interface": interface,
                    "url": url,
                    "region_id": region,
                    "enabled": True,
                }
            }
            self.ok("POST", "/endpoints", body)
            print(f"endpoint {interface} {url}: created")


def triple(text, with_role):
    parts = text.split(":")
    if len(parts) == 3:
        parts.append(with_role)
    if len(parts) != 4 or not all(parts):
        sys.exit(f"keystone_register: expected PROJECT:USER:PASSWORD[:ROLE], got {text!r}")
    return parts


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    env = os.environ.get
    p.add_argument("--auth-url", default=env("OS_AUTH_URL"), help="default: $OS_AUTH_URL")
    p.add_argument("--admin-user", default=env("OS_USERNAME", "admin"), help="default: $OS_USERNAME or admin")
    p.add_argument("--admin-password", default=env("OS_PASSWORD"), help="default: $OS_PASSWORD")
    p.add_argument("--admin-project", default=env("OS_PROJECT_NAME", "admin"),
                   help="default: $OS_PROJECT_NAME or admin")
    p.add_argument("--domain", default="default", help="domain id of every object (default: default)")
    p.add_argument("--service-user", default="magnum")
    p.add_argument("--service-password")
    p.add_argument("--service-project", default="service")
    p.add_argument("--service-role", default="admin")
    p.add_argument("--endpoint", default="http://127.0.0.1:9511/v1")
    p.add_argument("--region", default="RegionOne")
    p.add_argument("--also-container-type", action="store_true",
                   help="register type 'container' too (python-magnumclient 0.2.1 and 1.1.0)")
    p.add_argument("--tenant", action="append", default=[])
    p.add_argument("--admin-user-in", action="append", default=[])
    a = p.parse_args()
    if not a.auth_url or not a.admin_password:
        p.error("--auth-url and --admin-password (or OS_AUTH_URL and OS_PASSWORD) are required")

    ks = Keystone(a.auth_url, a.admin_user, a.admin_password, a.admin_project, a.domain)
    if a.service_password:
        project = ks.ensure_project(a.service_project)
        user = ks.ensure_user(a.service_user, a.service_password, project)
        ks.grant(project, user, a.service_role)
        types = ["container-infra"] + (["container"] if a.also_container_type else [])
        for type_ in types:
            sid = ks.ensure_service("magnum", type_, "Container Infrastructure Management Service")
            ks.ensure_endpoints(sid, a.endpoint, a.region)
    for spec, role in [(t, "member") for t in a.tenant] + [(t, "admin") for t in a.admin_user_in]:
        project_name, user_name, password, role = triple(spec, role)
        project = ks.ensure_project(project_name)
        user = ks.ensure_user(user_name, password, project)
        ks.grant(project, user, role)


if __name__ == "__main__":
    main()
