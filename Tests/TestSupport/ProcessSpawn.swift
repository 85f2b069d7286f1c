import Foundation

extension Process {
    /// `run()`, tried again (up to five times) when the spawn fails with EBADF. Foundation tells
    /// the child to close descriptors it listed in the parent; a test on another thread closing
    /// one of them in between fails the spawn though nothing is wrong with this one. The same
    /// process object runs normally on the next try.
    public func spawn() throws {
        var attempts = 0
        while true {
            do {
                try run()
                return
            } catch let error as NSError where attempts < 5 && Process.isBadDescriptor(error) {
                attempts += 1
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    static func isBadDescriptor(_ error: NSError) -> Bool {
        if error.domain == NSPOSIXErrorDomain, error.code == Int(EBADF) { return true }
        guard let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError else { return false }
        return isBadDescriptor(underlying)
    }
}
