import Foundation
import JWTKit
import Testing

@testable import Billing

/// RSA key pair made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` for these tests only.
enum TestRSA {
    static let privatePEM = """
        -----BEGIN PRIVATE KEY-----
        MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDIJlQcRM7EwhMR
        53kCim88NEQLecTMTa79YrAwO4wSpiuRFB5ehggAppT9IseVnflE37CpAcBSIpNm
        HZynLEe6s9dRCFNGwTPsAW0fc30M+4B7QjG4DGDruzN20QoYye7g+u/VBGf7mxys
        6ikded3xM9hQ/yME5ew7tVFob3AHtKm0GhbJQvwNoys0+ca8Q5V2ySCZZ8p9iNPJ
        8T61Q1PKwNhLLS3OY2F58+TOoGInrAMPz+LE2NQ0mOFmxFcEfmb4qv5gnJOeYGCA
        TlOdR0m9HaZLoe5I9VGi997pqmuu0nJYlknnXaupQp5XonnFDrhFT0rlSw7UQOIf
        5LJ5IAFFAgMBAAECggEAEZYglN1M58f/wfZ7UQhV7s3O3s1DyAnZYuVNgudwjuDv
        +g7w/jA7usboV3e7Xr+jO/SFwsvnGLB2ECZw8dV3tgWAWVvoaVKnm8iiTH2q0r20
        k+AEm13nFD9+LaX/g58WsMkL0sVQ17BQ7DalBzSClmOOUcuhSZhkUfjEHu+PwfVr
        gpVZ4nDvXKdks2nehR97E7SGChYsmMAk5dQ5rTAPPDVZMpvR+WR4R6MuTDrelDBY
        X6IbKO6MJ1DyjuqZEFadxdRiRZpTv7xZ3rdU8VfcFJ0Zmt2DmtM4Jcz6nNVU9Ydj
        ha5ByKqY7p5YSPtCEu3gyi0b+umkQ6VZX2LZjR2KbwKBgQDzucJ9TpkLZU4JGO/B
        0FjKAH6riyWR5UUWgzGGfsHY0EuswY4C8NVallPgjxlA9KlKaa3YSMeTqdvj6PzD
        mvgoNIBwrvEayCd4aEd6bR/mN3COVDlJnCcbX+qX/UKcjJB5YvV9hI0QLIHvT2G8
        enDfVQ5SaF91ScLodDa2UdM7nwKBgQDSOsPfo9aPeQUebaKSsTDTi3g8b6FN6i+0
        kG3l5TUbvdxEi8bt/uY4UcnxBl9Iik2r3mpKi0jLznZmTW09+Hb4N4t8PuFFOHc0
        //HhXDfzt2oWs3PTRacz+Lc8fBFOkrz64+ZlVyDS6hR3IvJiGpWAjrjFzqAERGFB
        gEfZnNwYmwKBgEJ+c6lsQCTzxo6E1ySxiwfRir2SgPWE74xszp47Bvf4HC1NwUjc
        G9lTGh8x61nlZip/GobflFOdC/jqH8veA8Y0TLZxhCYiZWJcUOP90a4lgffS0q5a
        g/DcAkzlM78yOlhjv0Y3W6UF/40iwy+A2DqWIgopn6GINjzlN+gV+uNRAoGAHQvv
        ilPZzmL7ORQO1VPUGjZ3+2m1EM3dn4YhGRWNO/MEnxfs+W8xofBzBXFK8vvg9XE6
        oGgUO8ygAUyLXneZAHy0MguCFo1Rsyn14pxaQrtB1jcfNr619nFT5/CAd6nAoK2i
        ZLggGeQrxbY3ZSSlKWkO0I3XAB/ujB1MUB3jLycCgYEAryln+WwST3Y2PaB1VftS
        8ow/7HVwQq11P0fhXMxZ/vJiv6DsSFtF/5JwGmWSsUl4REVFF2QD1yqlYM7SbI8w
        7MSIuIe/jZRJ3nhfcl9CLC5ufq8HIHNwoPGrhw1++Jv9XdbkLQyOsvyanAdaE6m1
        Bx+zXvcsnOCzaYO6ahxcBfU=
        -----END PRIVATE KEY-----
        """
    static let publicPEM = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyCZUHETOxMITEed5Aopv
        PDREC3nEzE2u/WKwMDuMEqYrkRQeXoYIAKaU/SLHlZ35RN+wqQHAUiKTZh2cpyxH
        urPXUQhTRsEz7AFtH3N9DPuAe0IxuAxg67szdtEKGMnu4Prv1QRn+5scrOopHXnd
        8TPYUP8jBOXsO7VRaG9wB7SptBoWyUL8DaMrNPnGvEOVdskgmWfKfYjTyfE+tUNT
        ysDYSy0tzmNhefPkzqBiJ6wDD8/ixNjUNJjhZsRXBH5m+Kr+YJyTnmBggE5TnUdJ
        vR2mS6HuSPVRovfe6aprrtJyWJZJ512rqUKeV6J5xQ64RU9K5UsO1EDiH+SyeSAB
        RQIDAQAB
        -----END PUBLIC KEY-----
        """
}
