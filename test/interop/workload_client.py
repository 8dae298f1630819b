#!/usr/bin/python3
"""An independent SPIFFE Workload API client, written from the specification (not from our
C++ code), to check that a server speaks the wire protocol SPIRE and go-spiffe speak.

It compiles proto/spiffe/workload.proto with grpc_tools.protoc into a temporary directory at run
time (nothing generated is checked in), then, against the server on --socket:

  1. calls without the `workload.spiffe.io: true` header are refused with INVALID_ARGUMENT
     (FetchX509SVID, FetchJWTSVID, and a header with a value other than "true");
  2. FetchX509SVID: the first message holds an X509-SVID whose leaf carries the SPIFFE ID as its
     only URI SAN, whose PKCS#8 DER key matches the leaf, and whose bundle signed the leaf
     (checked with `cryptography`, not with our code);
  3. a rotation arrives as a new message on the same open stream, with a new serial and the
     same SPIFFE ID (caused by SIGUSR1 to --rotate-pid, a test server, or by running
     --rotate-command, e.g. a registration entry update that makes a real agent re-sign);
  4. FetchX509Bundles carries the trust domain's bundle under its SPIFFE ID key;
  5. FetchJWTSVID + FetchJWTBundles: the token verifies with PyJWT against the JWKS bundle;
     ValidateJWTSVID accepts it and returns its claims; a token signed by a foreign key and an
     HS256 token are refused with INVALID_ARGUMENT, each for its own reason (the status message).

Usage: /usr/bin/python3 workload_client.py --proto-root ROOT/proto --socket PATH
           --spiffe-id ID (--rotate-pid PID | --rotate-command 'SHELL COMMAND')
Needs python3-grpcio, python3-grpc-tools, python3-cryptography, python3-jwt (Debian's
/usr/bin/python3 has them). Prints "ok: ..." per check; exits 1 on the first failure.
"""
import argparse
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HEADER = ("workload.spiffe.io", "true")


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def ok(message):
    print(f"ok: {message}", flush=True)


def compile_proto(proto_root):
    from grpc_tools import protoc
    import grpc_tools

    out = tempfile.mkdtemp(prefix="workload-proto-")
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = [
        "protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        os.path.join(proto_root, "spiffe", "workload.proto"),
    ]
    if protoc.main(args) != 0:
        fail("grpc_tools.protoc could not compile spiffe/workload.proto")
    # The generated code imports itself as the package "spiffe" (a namespace package).
    sys.path.insert(0, out)
    pb2 = importlib.import_module("spiffe.workload_pb2")
    grpc_pb2 = importlib.import_module("spiffe.workload_pb2_grpc")
    return out, pb2, grpc_pb2


def split_der(blob):
    """Concatenated DER certificates -> list of DER certificates (each a SEQUENCE)."""
    certs = []
    i = 0
    while i < len(blob):
        if blob[i] != 0x30:
            fail(f"DER element at offset {i} is not a SEQUENCE")
        first = blob[i + 1]
        if first < 0x80:
            length, header = first, 2
        else:
            n = first & 0x7F
            length = int.from_bytes(blob[i + 2 : i + 2 + n], "big")
            header = 2 + n
        certs.append(blob[i : i + header + length])
        i += header + length
    if not certs:
        fail("no DER certificate")
    return certs


def expect_rpc_error(call, code, what, details=None):
    """The call fails with status `code` and, when `details` is given, a status message equal to
    it (exactly: a refusal for another reason with the same code does not pass)."""
    import grpc

    try:
        result = call()
        # Server streams fail on the first read.
        if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
            next(iter(result))
    except grpc.RpcError as e:
        if e.code() != code:
            fail(f"{what}: got {e.code()} ({e.details()}), want {code}")
        if details is not None and e.details() != details:
            fail(f"{what}: details {e.details()!r}, want {details!r}")
        ok(f"{what}: {e.code().name} \"{e.details()}\"")
        return
    fail(f"{what}: the call succeeded, want {code}")


def check_svid(svid, spiffe_id):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if svid.spiffe_id != spiffe_id:
        fail(f"spiffe_id {svid.spiffe_id!r}, want {spiffe_id!r}")
    chain = [x509.load_der_x509_certificate(d) for d in split_der(svid.x509_svid)]
    leaf = chain[0]
    uris = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier
    )
    if uris != [spiffe_id]:
        fail(f"leaf URI SANs {uris}, want exactly [{spiffe_id}]")
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    if basic.ca:
        fail("the leaf is a CA")
    key = serialization.load_der_private_key(svid.x509_svid_key, password=None)
    pub = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if pub(key.public_key()) != pub(leaf.public_key()):
        fail("x509_svid_key does not match the leaf")
    bundle = [x509.load_der_x509_certificate(d) for d in split_der(svid.bundle)]
    # The last certificate of the chain (the leaf when there are no intermediates) is signed by
    # a bundle certificate.
    top = chain[-1]
    verified = False
    for root in bundle:
        if root.subject != top.issuer:
            continue
        pk = root.public_key()
        try:
            if isinstance(pk, ec.EllipticCurvePublicKey):
                pk.verify(top.signature, top.tbs_certificate_bytes, ec.ECDSA(top.signature_hash_algorithm))
            elif isinstance(pk, rsa.RSAPublicKey):
                pk.verify(top.signature, top.tbs_certificate_bytes, padding.PKCS1v15(), top.signature_hash_algorithm)
            else:
                continue
            verified = True
        except Exception:
            pass
    if not verified:
        fail("no bundle certificate signed the chain")
    return leaf, bundle


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proto-root", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--spiffe-id", required=True)
    rotate = parser.add_mutually_exclusive_group(required=True)
    rotate.add_argument("--rotate-pid", type=int)
    rotate.add_argument("--rotate-command")
    args = parser.parse_args()

    import grpc
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    tmp, pb2, pb2_grpc = compile_proto(args.proto_root)
    try:
        # The service has no package: its full name is SpiffeWorkloadAPI.
        full_name = pb2.DESCRIPTOR.services_by_name["SpiffeWorkloadAPI"].full_name
        if full_name != "SpiffeWorkloadAPI":
            fail(f"service full name {full_name}")
        channel = grpc.insecure_channel(f"unix://{args.socket}")
        stub = pb2_grpc.SpiffeWorkloadAPIStub(channel)
        trust_domain_id = "spiffe://" + args.spiffe_id.split("/")[2]

        # 1. The security header.
        expect_rpc_error(lambda: stub.FetchX509SVID(pb2.X509SVIDRequest(), timeout=10),
                         grpc.StatusCode.INVALID_ARGUMENT, "FetchX509SVID without the header",
                         "security header missing from request")
        expect_rpc_error(lambda: stub.FetchX509SVID(pb2.X509SVIDRequest(), timeout=10,
                                                    metadata=[("workload.spiffe.io", "false")]),
                         grpc.StatusCode.INVALID_ARGUMENT, "FetchX509SVID with the header set to false",
                         "security header missing from request")
        expect_rpc_error(lambda: stub.FetchJWTSVID(pb2.JWTSVIDRequest(audience=["x"]), timeout=10),
                         grpc.StatusCode.INVALID_ARGUMENT, "FetchJWTSVID without the header",
                         "security header missing from request")

        # 2. FetchX509SVID.
        stream = stub.FetchX509SVID(pb2.X509SVIDRequest(), metadata=[HEADER], timeout=60)
        first = next(stream)
        if len(first.svids) != 1:
            fail(f"{len(first.svids)} SVIDs, want 1")
        leaf, bundle = check_svid(first.svids[0], args.spiffe_id)
        ok(f"FetchX509SVID: {first.svids[0].spiffe_id} serial {leaf.serial_number:x}, key matches, "
           f"chains to the bundle ({len(bundle)} root)")

        # 3. A rotation on the open stream.
        if args.rotate_pid is not None:
            os.kill(args.rotate_pid, signal.SIGUSR1)
        else:
            done = subprocess.run(args.rotate_command, shell=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            if done.returncode != 0:
                fail(f"--rotate-command exited {done.returncode}: {done.stderr.strip()}")
        second = next(stream)
        leaf2, _ = check_svid(second.svids[0], args.spiffe_id)
        if leaf2.serial_number == leaf.serial_number:
            fail("the second message carries the same certificate")
        ok(f"rotation arrived on the open stream: serial {leaf.serial_number:x} -> {leaf2.serial_number:x}")
        stream.cancel()

        # 4. FetchX509Bundles.
        bundles = next(stub.FetchX509Bundles(pb2.X509BundlesRequest(), metadata=[HEADER], timeout=10))
        if trust_domain_id not in bundles.bundles:
            fail(f"FetchX509Bundles keys {list(bundles.bundles)}, want {trust_domain_id}")
        if bundles.bundles[trust_domain_id] != first.svids[0].bundle:
            fail("FetchX509Bundles bundle differs from the SVID's bundle")
        ok(f"FetchX509Bundles: {list(bundles.bundles)}")

        # 5. JWT-SVIDs.
        response = stub.FetchJWTSVID(pb2.JWTSVIDRequest(audience=["interop"]), metadata=[HEADER], timeout=10)
        token = response.svids[0].svid
        if response.svids[0].spiffe_id != args.spiffe_id:
            fail(f"JWT-SVID spiffe_id {response.svids[0].spiffe_id}")
        jwt_bundles = next(stub.FetchJWTBundles(pb2.JWTBundlesRequest(), metadata=[HEADER], timeout=10))
        jwks = jwt_bundles.bundles[trust_domain_id]
        keyset = jwt.PyJWKSet.from_json(jwks.decode())
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in keyset.keys if k.key_id == kid)
        claims = jwt.decode(token, key.key, algorithms=["ES256", "ES384", "RS256"], audience="interop")
        if claims["sub"] != args.spiffe_id:
            fail(f"JWT sub {claims['sub']}")
        ok(f"FetchJWTSVID: {jwt.get_unverified_header(token)['alg']} token verified by PyJWT against "
           f"FetchJWTBundles (kid {kid})")
        validated = stub.ValidateJWTSVID(pb2.ValidateJWTSVIDRequest(audience="interop", svid=token),
                                         metadata=[HEADER], timeout=10)
        if validated.spiffe_id != args.spiffe_id or validated.claims.fields["sub"].string_value != args.spiffe_id:
            fail(f"ValidateJWTSVID: {validated}")
        ok(f"ValidateJWTSVID: {validated.spiffe_id}, claims {sorted(validated.claims.fields.keys())}")
        foreign_key = ec.generate_private_key(ec.SECP256R1())
        forged = jwt.encode({"sub": args.spiffe_id, "aud": ["interop"], "exp": 4102444800},
                            foreign_key, algorithm="ES256", headers={"kid": kid})
        expect_rpc_error(lambda: stub.ValidateJWTSVID(
            pb2.ValidateJWTSVIDRequest(audience="interop", svid=forged), metadata=[HEADER], timeout=10),
            grpc.StatusCode.INVALID_ARGUMENT, "ValidateJWTSVID of a token signed by a foreign key",
            "JWT-SVID: the signature does not verify")
        hmac = jwt.encode({"sub": args.spiffe_id, "aud": ["interop"], "exp": 4102444800},
                          "secret", algorithm="HS256", headers={"kid": kid})
        expect_rpc_error(lambda: stub.ValidateJWTSVID(
            pb2.ValidateJWTSVIDRequest(audience="interop", svid=hmac), metadata=[HEADER], timeout=10),
            grpc.StatusCode.INVALID_ARGUMENT, "ValidateJWTSVID of an HS256 token",
            'JWT-SVID: algorithm "HS256" is not allowed for JWT-SVIDs')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
