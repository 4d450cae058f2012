import { tartDownload } from './tart-pull-output';

describe('tartDownload', () => {
  it('reads the compressed size of the disk Tart announces, in decimal units', () => {
    expect(tartDownload('pulling manifest...\npulling disk (61.4 GB compressed)...\n12%\n')).toEqual({
      bytes: 61.4e9,
    });
    expect(tartDownload('pulling disk (850 MB compressed)...')).toEqual({ bytes: 850e6 });
    expect(tartDownload('pulling disk (1 TB compressed)...')).toEqual({ bytes: 1e12 });
    expect(tartDownload('pulling disk (512 bytes compressed)...')).toEqual({ bytes: 512 });
    expect(tartDownload('pulling disk (Zero KB compressed)...')).toEqual({ bytes: 0 });
  });

  it('reads a comma as the decimal mark and ignores the progress redraws of a terminal', () => {
    expect(tartDownload('pulling disk (61,4 GB compressed)...')).toEqual({ bytes: 61.4e9 });
    expect(tartDownload('\u001b[2K\rpulling disk (2.5 GB compressed)...\u001b[1A')).toEqual({ bytes: 2.5e9 });
  });

  it('says a download happened without a size it cannot read, and nothing when nothing was downloaded', () => {
    expect(tartDownload('pulling disk (a lot compressed)...')).toEqual({});
    expect(tartDownload('ghcr.io/acme/macos@sha256:feed image is already cached and linked!\n')).toBeUndefined();
    expect(tartDownload('')).toBeUndefined();
  });
});
