/** The controller's host files are checked the same way by deploy and library-gen smoke: catalog/controller/. */
export * from '../../../catalog/controller/controller-files';
