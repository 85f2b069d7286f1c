internal import CCurl
import Foundation

/// The real transport: libcurl easy handles kept in a pool and reused, so each thread's calls
/// keep their connection to Stripe alive (a new TLS handshake per call would cost more than
/// the call). Safe to call from several threads at once: a call takes a handle from the pool,
/// or makes one, and puts it back when done.
public final class CurlTransport: StripeTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [EasyHandle] = []
    /// Handles kept for reuse; more may be in use at once, the extra ones are closed after.
    private let poolSize: Int

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(poolSize: Int = 16) {
        _ = CurlTransport.globalInit
        self.poolSize = poolSize
    }

    public func send(_ request: HTTPRequest) throws(NetworkError) -> HTTPResponse {
        guard let easy = checkOut() else { throw NetworkError(.other, detail: "libcurl could not make a handle") }
        defer { checkIn(easy) }
        return try easy.perform(request)
    }

    private func checkOut() -> EasyHandle? {
        lock.lock()
        let reused = idle.popLast()
        lock.unlock()
        return reused ?? EasyHandle()
    }

    private func checkIn(_ easy: EasyHandle) {
        lock.lock()
        defer { lock.unlock() }
        if idle.count < poolSize { idle.append(easy) }
    }
}

/// What the callbacks collect while curl performs one request.
private final class ResponseSink {
    var headers: [String: String] = [:]
    var body = Data()
}

/// One curl easy handle and its error buffer; closed when released.
private final class EasyHandle {
    let handle: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>

    init?() {
        guard let handle = curl_easy_init() else { return nil }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    func perform(_ request: HTTPRequest) throws(NetworkError) -> HTTPResponse {
        // Reset clears every option but keeps the live connections, which is the point of reuse.
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        let sink = ResponseSink()
        var headerList: UnsafeMutablePointer<curl_slist>?
        // curl adds `Expect: 100-continue` to bodies over 1 KiB and then waits a second for a
        // server that never sends 100; an empty `Expect:` turns that off.
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            headerList = curl_slist_append(headerList, line)
        }
        defer { curl_slist_free_all(headerList) }

        tollbooth_curl_setopt_string(handle, CURLOPT_URL, request.url)
        // Signals and threads do not mix: without this curl's resolver timeout uses SIGALRM.
        tollbooth_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        tollbooth_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        tollbooth_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, max(1, Int(request.timeout * 1000)))
        tollbooth_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        tollbooth_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)
        switch request.method {
        case .get:
            tollbooth_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        case .post:
            let body = request.body ?? ""
            tollbooth_curl_setopt_long(handle, CURLOPT_POST, 1)
            tollbooth_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.utf8.count)
            // COPYPOSTFIELDS: the Swift string's C buffer lives only for this call.
            tollbooth_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, body)
        case .delete:
            tollbooth_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, "DELETE")
        }

        let context = Unmanaged.passUnretained(sink).toOpaque()
        tollbooth_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        tollbooth_curl_setopt_write(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
            if let data { sink.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: size * count) }
            return size * count
        }
        tollbooth_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        tollbooth_curl_setopt_write(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
            guard let data else { return 0 }
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if line.hasPrefix("HTTP/") {
                // A new status line (after a 100 Continue, say) starts a new set of headers.
                sink.headers = [:]
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                sink.headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return size * count
        }

        let code = curl_easy_perform(handle)
        guard code == CURLE_OK else {
            let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
            throw NetworkError(EasyHandle.kind(of: code), detail: detail)
        }
        var status = 0
        tollbooth_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    static func kind(of code: CURLcode) -> NetworkError.Kind {
        switch code {
        case CURLE_COULDNT_CONNECT: return .connectionRefused
        case CURLE_OPERATION_TIMEDOUT: return .timeout
        case CURLE_GOT_NOTHING: return .emptyReply
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE: return .connectionReset
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .hostNotFound
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND:
            return .tls
        default: return .other
        }
    }
}
