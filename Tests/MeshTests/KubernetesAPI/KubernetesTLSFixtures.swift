/// Test certificates for the https API server tests: a cluster CA, a server certificate it
/// signed (DNS names `kubernetes.default.svc` and `localhost`, IP 127.0.0.1), a client
/// certificate it signed (`system:node:edge-1`), and a server certificate with the same names
/// signed by another CA (an impostor). ECDSA P-256, valid for 100 years from 2026-11-25.
///
/// Made with OpenSSL 3 by this script (keys of the unused CAs thrown away):
///
///     set -e
///     days=36500
///     key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1 2>/dev/null; }
///     ca() { key $1.key; openssl req -x509 -new -key $1.key -subj "/CN=$2" -days $days -out $1.crt -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"; }
///     leaf() { # name ca cn ext
///       key $1.key; openssl req -new -key $1.key -subj "$3" -out $1.csr
///       printf "%s\n" "$4" > $1.ext
///       openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -days $days -extfile $1.ext -out $1.crt 2>/dev/null; rm $1.csr $1.ext; }
///     ca ca "edgemesh test cluster CA"
///     ca rogue-ca "someone else's CA"
///     leaf server ca "/CN=kube-apiserver" "subjectAltName=DNS:kubernetes.default.svc,DNS:localhost,IP:127.0.0.1
///     extendedKeyUsage=serverAuth"
///     leaf client ca "/O=system:nodes/CN=system:node:edge-1" "extendedKeyUsage=clientAuth"
///     leaf rogue-server rogue-ca "/CN=kube-apiserver" "subjectAltName=DNS:kubernetes.default.svc,DNS:localhost,IP:127.0.0.1
///     extendedKeyUsage=serverAuth"
///     rm -f *.srl
enum KubernetesTLSFixtures {
    static let certificateAuthority = Array("""
        -----BEGIN CERTIFICATE-----
        MIIBrTCCAVOgAwIBAgIUGq+xgGdOaeiDLgFfVhvx/pKGwA4wCgYIKoZIzj0EAwIw
        IzEhMB8GA1UEAwwYZWRnZW1lc2ggdGVzdCBjbHVzdGVyIENBMCAXDTI2MTEyNTE1
        MDA1M1oYDzIxMjYxMTAxMTUwMDUzWjAjMSEwHwYDVQQDDBhlZGdlbWVzaCB0ZXN0
        IGNsdXN0ZXIgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQFOFqSfghEFaK4
        LpPbEELFNm5agU0Htit1X1tVtLX3B7z03blguJF7SJsCPE9VioUoGOkHwfMW1j/A
        TJlv1qc9o2MwYTAdBgNVHQ4EFgQUmBHXkSU2rR5MNKl31sADdpmMU88wHwYDVR0j
        BBgwFoAUmBHXkSU2rR5MNKl31sADdpmMU88wDwYDVR0TAQH/BAUwAwEB/zAOBgNV
        HQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIhAJWn6/SaVmQXyG9LKIMn1zWk
        HICsqUghusRhE0fcBXYvAiBCU7XqHuhfVOpixZW2cyYU4d670f4etMEi/9YuY1HU
        0A==
        -----END CERTIFICATE-----
        """.utf8)

    static let serverCertificate = Array("""
        -----BEGIN CERTIFICATE-----
        MIIBzTCCAXOgAwIBAgIUTaktV1xNaNwp6fTGCiOb6AuAHz8wCgYIKoZIzj0EAwIw
        IzEhMB8GA1UEAwwYZWRnZW1lc2ggdGVzdCBjbHVzdGVyIENBMCAXDTI2MTEyNTE1
        MDA1NFoYDzIxMjYxMTAxMTUwMDU0WjAZMRcwFQYDVQQDDA5rdWJlLWFwaXNlcnZl
        cjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKDV/kcBJan4bw8vafmMZvnElcJ6
        Rxm3/Ohq9zzykdBMdF1oM9nIbH5/wSW7ErRHVSh0BlgbGK07Kk4u/BOP+L6jgYww
        gYkwMgYDVR0RBCswKYIWa3ViZXJuZXRlcy5kZWZhdWx0LnN2Y4IJbG9jYWxob3N0
        hwR/AAABMBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBTbvKXfozCsy6V0
        EfsfL1Rs4G0YKzAfBgNVHSMEGDAWgBSYEdeRJTatHkw0qXfWwAN2mYxTzzAKBggq
        hkjOPQQDAgNIADBFAiEAvn6obSdcM1mOM8rQ0I5eOEBDQ1blF5WBnbxOzLAnjbsC
        ICG7zXstgvlTraSNpVdrwg308ArDxeTin70vXBYK0WMH
        -----END CERTIFICATE-----
        """.utf8)

    static let serverKey = Array("""
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguPhsLajFhMXj0af1
        GP/S//2C3xI7ciLUhpLF2f7cjEqhRANCAASg1f5HASWp+G8PL2n5jGb5xJXCekcZ
        t/zoavc88pHQTHRdaDPZyGx+f8EluxK0R1UodAZYGxitOypOLvwTj/i+
        -----END PRIVATE KEY-----
        """.utf8)

    static let clientCertificate = Array("""
        -----BEGIN CERTIFICATE-----
        MIIBszCCAVigAwIBAgIUTaktV1xNaNwp6fTGCiOb6AuAH0AwCgYIKoZIzj0EAwIw
        IzEhMB8GA1UEAwwYZWRnZW1lc2ggdGVzdCBjbHVzdGVyIENBMCAXDTI2MTEyNTE1
        MDA1NVoYDzIxMjYxMTAxMTUwMDU1WjA0MRUwEwYDVQQKDAxzeXN0ZW06bm9kZXMx
        GzAZBgNVBAMMEnN5c3RlbTpub2RlOmVkZ2UtMTBZMBMGByqGSM49AgEGCCqGSM49
        AwEHA0IABHwMdED5/KheuTsZYugmfntNXwmzRYiYtDkcKeu8vudbNT/hNK/0OJe4
        NyvDwRSkdhzeuGc9Novc711TovlUmD6jVzBVMBMGA1UdJQQMMAoGCCsGAQUFBwMC
        MB0GA1UdDgQWBBSZg8FPdchglEWU8uTxXgs5LYWGOTAfBgNVHSMEGDAWgBSYEdeR
        JTatHkw0qXfWwAN2mYxTzzAKBggqhkjOPQQDAgNJADBGAiEAuzO0h/rVhnS83dlZ
        ausHY4OD8eWq9nIxukKoaAo1+uECIQC9/m1fK3DcWU7CO8aq7fVRMqnfL/xsq8u1
        TkpPjv6XKQ==
        -----END CERTIFICATE-----
        """.utf8)

    static let clientKey = Array("""
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIg7VJr9b1o7YN4pP
        iMT6IYR4vn4ic2D4XGjtG0G6HayhRANCAAR8DHRA+fyoXrk7GWLoJn57TV8Js0WI
        mLQ5HCnrvL7nWzU/4TSv9DiXuDcrw8EUpHYc3rhnPTaL3O9dU6L5VJg+
        -----END PRIVATE KEY-----
        """.utf8)

    static let rogueServerCertificate = Array("""
        -----BEGIN CERTIFICATE-----
        MIIBxzCCAWygAwIBAgIUf6a1UoSjoDcGznMFfdURhN+fVskwCgYIKoZIzj0EAwIw
        HDEaMBgGA1UEAwwRc29tZW9uZSBlbHNlJ3MgQ0EwIBcNMjYxMTI1MTUwMDU1WhgP
        MjEyNjExMDExNTAwNTVaMBkxFzAVBgNVBAMMDmt1YmUtYXBpc2VydmVyMFkwEwYH
        KoZIzj0CAQYIKoZIzj0DAQcDQgAEoHo97qZYPyZ/+wfrWafE9FvWLvc49QwYrCOX
        FtOjD7lk2JZkpvpmmz/MFIAKuzhQG2NUBX+3IdkCtpfza0HZ2qOBjDCBiTAyBgNV
        HREEKzApghZrdWJlcm5ldGVzLmRlZmF1bHQuc3Zjgglsb2NhbGhvc3SHBH8AAAEw
        EwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYDVR0OBBYEFJyV/oIY+I26HqtlsJIFdVeG
        m5upMB8GA1UdIwQYMBaAFEAjxxcm7aCqxU7CegMhRkq1zHnBMAoGCCqGSM49BAMC
        A0kAMEYCIQC1/mOS43bvhqTWe9HR4zdbiMTnz7pT7h3IOrDlBrNHcgIhAP/8Y78L
        jOzldoFaI0KhU4uSqh+tURo/tLJlkss/mlJ3
        -----END CERTIFICATE-----
        """.utf8)

    static let rogueServerKey = Array("""
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfe060tb+SI3Tb2AX
        PG/GXIxQpV4kr7fYTlDPwLU5np+hRANCAASgej3uplg/Jn/7B+tZp8T0W9Yu9zj1
        DBisI5cW06MPuWTYlmSm+mabP8wUgAq7OFAbY1QFf7ch2QK2l/NrQdna
        -----END PRIVATE KEY-----
        """.utf8)
}
